// The printer output; see printer.h.
#include "outputs/printer/printer.h"

#include "common/file_io.h"
#include "common/spawn.h"
#include "config/config.h"
#include "outputs/delivered_ids.h"
#include "outputs/output.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace reporthub::outputs::printer {

namespace {

std::string wallTime(std::int64_t ts_ns, const char* format) {
  const std::time_t secs = static_cast<std::time_t>(ts_ns / 1'000'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

// Printers take text; control characters other than newline and tab would drive them.
void appendPrintable(std::string& out, std::string_view s) {
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 && c != '\n' && c != '\t' ? ' ' : c == 0x7f ? ' ' : c);
  }
}

class PrinterOutput final : public Output {
 public:
  PrinterOutput(const config::PrinterOutput& cfg, std::filesystem::path dir,
                const std::filesystem::path& state_dir)
      : cfg_(cfg), dir_(std::move(dir)), printed_(state_dir / "printer.delivered") {
    spdlog::info("{} printed report ids remembered from {}", printed_.loaded(),
                 printed_.file().string());
    if (!cfg_.spool.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(cfg_.spool, ec);
      if (ec) {
        throw std::runtime_error("cannot create the spool directory " + cfg_.spool.string() + ": " +
                                 ec.message());
      }
    }
  }

  // A report printed before a crash (of this process or the hub) comes again: not reprinted.
  bool seen(std::string_view id) override { return printed_.contains(id); }

  wire::Status deliver(const Report& r, const wire::Deliver&, std::string& reason) override {
    printed_.add(r.id);
    if (job_.empty()) first_at_ = Clock::now();
    if (!job_.empty()) job_ += '\f';
    job_ += formatPage(r);
    ++pages_;
    if (job_ids_.empty()) job_ids_ = r.id;
    // Without a batch interval every report is its own job, sent now.
    if (cfg_.batch.count() == 0) return send(reason);
    return wire::Status::ok;
  }

  wire::Status flush(std::string& reason) override { return send(reason); }

  Duration holdFor() override {
    if (job_.empty() || cfg_.batch.count() == 0) return Duration(0);
    const auto due = first_at_ + cfg_.batch;
    const auto now = Clock::now();
    return due > now ? std::max<Duration>(std::chrono::duration_cast<Duration>(due - now),
                                          std::chrono::milliseconds(1))
                     : Duration(0);
  }

 private:
  using Clock = std::chrono::steady_clock;

  // Sends the job gathered so far. On failure the pages are dropped: the hub sends their
  // reports again after its backoff.
  wire::Status send(std::string& reason) {
    if (job_.empty()) return wire::Status::ok;
    const bool ok = cfg_.spool.empty() ? runPrintCommand(reason) : writeSpoolFile(reason);
    if (ok) {
      // Printed is printed: if the record cannot be kept, a crash may print these again, and
      // that is said, but the hub is not asked to print them a second time now.
      std::string error;
      if (!printed_.commit(error))
        spdlog::warn("{}; a crash before the next job could print these reports again", error);
      ++jobs_;
      spdlog::info("printed job {} ({} page{}, first report {})", jobs_, pages_,
                   pages_ == 1 ? "" : "s", job_ids_);
    }
    if (!ok) printed_.rollback();
    job_.clear();
    job_ids_.clear();
    pages_ = 0;
    return ok ? wire::Status::ok : wire::Status::retry;
  }

  bool runPrintCommand(std::string& reason) {
    const CommandResult res = runCommand(cfg_.command, job_, cfg_.timeout, dir_);
    const std::string& cmd = cfg_.command[0];
    if (!res.started) {
      reason = res.error;
    } else if (res.timed_out) {
      reason = cmd + " did not finish within " + formatDuration(cfg_.timeout) + "; killed";
    } else if (!WIFEXITED(res.wait_status) || WEXITSTATUS(res.wait_status) != 0) {
      std::string said = res.output.substr(0, res.output.find('\n'));
      reason = cmd + " failed (" + describeWaitStatus(res.wait_status) + ")" +
               (said.empty() ? "" : ": " + said);
    } else {
      return true;
    }
    spdlog::warn("print job not accepted: {}; its {} report{} wait in the hub's journal", reason,
                 pages_, pages_ == 1 ? "" : "s");
    return false;
  }

  // Each job is one file, complete before it appears: written under a dot name, synced,
  // then renamed, so a spooler picking up *.txt never reads half a job.
  bool writeSpoolFile(std::string& reason) {
    const std::string name = wallTime(nowNs(), "%Y%m%dT%H%M%SZ") + "-" + std::to_string(getpid()) +
                             "-" + std::to_string(jobs_ + 1) + ".txt";
    const auto tmp = cfg_.spool / ("." + name);
    const auto final_path = cfg_.spool / name;
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    bool ok = fd >= 0 && writeAll(fd, job_) == job_.size() && fdatasync(fd) == 0;
    const int err = errno;
    if (fd >= 0) close(fd);
    if (ok) ok = std::rename(tmp.c_str(), final_path.c_str()) == 0;
    if (ok) {
      const int dir = ::open(cfg_.spool.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
      if (dir >= 0) {
        fsync(dir);
        close(dir);
      }
      return true;
    }
    reason = "cannot write " + final_path.string() + ": " + strerror(ok ? errno : err);
    unlink(tmp.c_str());
    spdlog::warn("print job not spooled: {}; its reports wait in the hub's journal", reason);
    return false;
  }

  const config::PrinterOutput& cfg_;
  const std::filesystem::path dir_;  // commands run in the config file's directory
  DeliveredIds printed_;
  std::string job_;
  std::string job_ids_;  // the first report's id, for the log
  int pages_ = 0;
  std::uint64_t jobs_ = 0;
  Clock::time_point first_at_{};
};

}  // namespace

std::string formatPage(const Report& r) {
  std::string page;
  page += "reporthub report from " + r.origin;
  if (!r.via.empty()) {
    page += " (via";
    for (const auto& n : r.via)
      page += " " + n;
    page += ")";
  }
  page += "\n";
  page += "Time:     " + wallTime(r.ts_ns, "%Y-%m-%d %H:%M:%S UTC") + "\n";
  page += "Category: ";
  appendPrintable(page, r.category);
  page += "\nSeverity: " + std::string(toString(r.severity)) + "\n";
  page += "Source:   " + r.source + "\n";
  page += "Report:   " + r.id + "\n";
  page += std::string(72, '-') + "\n\n";
  appendPrintable(page, r.text);
  page += "\n";
  if (!r.attrs.empty()) {
    page += "\n";
    for (const auto& [k, v] : r.attrs) {
      page += "  ";
      appendPrintable(page, k);
      page += ": ";
      appendPrintable(page, v);
      page += "\n";
    }
  }
  return page;
}

int main(ChildContext& ctx) {
  if (!ctx.config.outputs.printer) {
    spdlog::error("no outputs.printer in the config; nothing to do");
    return 2;
  }
  PrinterOutput output(*ctx.config.outputs.printer, ctx.config.file.parent_path(),
                       ctx.config.state_dir);
  return runOutput(ctx, output);
}

}  // namespace reporthub::outputs::printer
