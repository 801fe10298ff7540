// hubctl: the operator's and jobs' client for a running hub. It finds the hub's control
// socket through the config (paths.run_dir), asks, and turns the answer into an exit code
// (DESIGN §4): 0 ok, 1 failure, 2 usage or config error, 4 no hub running, 5 refused.
#include "common/lock.h"
#include "common/report.h"
#include "common/zmq_util.h"
#include "config/config.h"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <set>
#include <thread>

namespace rh = reporthub;
using nlohmann::json;

namespace {

constexpr int kOk = 0, kFailure = 1, kUsage = 2, kNoHub = 4, kRefused = 5;

struct Outcome {
  int code;
  json reply;
};

// Whether a hub holds the lock and its control socket can be reached; the exit code if not.
int checkHub(const rh::config::Location& cfg) {
  if (!rh::ExclusiveLock::holder(cfg.lockPath())) {
    std::cerr << "hubctl: no hub is running for " << cfg.file.string() << " (lock "
              << cfg.lockPath().string() << " is not held)\n";
    return kNoHub;
  }
  const auto sock = cfg.run_dir / "control.sock";
  if (access(sock.c_str(), R_OK | W_OK) != 0) {
    if (errno == EACCES || errno == EPERM) {
      std::cerr << "hubctl: refused: cannot reach the control socket " << sock.string() << ": "
                << strerror(errno) << " (the hub accepts only its own user)\n";
      return kRefused;
    }
    std::cerr << "hubctl: no hub is answering: " << sock.string() << ": " << strerror(errno)
              << '\n';
    return kNoHub;
  }
  return kOk;
}

Outcome request(const rh::config::Location& cfg, const json& req, rh::Duration timeout) {
  if (int code = checkHub(cfg); code != kOk) return {code, {}};
  zmq::context_t ctx(1);
  zmq::socket_t sock(ctx, zmq::socket_type::dealer);
  rh::zmqu::configure(sock, 1000, std::chrono::milliseconds(0));
  // Right after a hub restart the socket file may still be the dead hub's: retry soon,
  // not after ZeroMQ's default 100 ms.
  sock.set(zmq::sockopt::reconnect_ivl, 10);
  sock.connect(cfg.controlEndpoint());
  const std::string text = req.dump();
  sock.send(zmq::buffer(text), zmq::send_flags::none);
  std::vector<zmq::pollitem_t> items{{sock.handle(), 0, ZMQ_POLLIN, 0}};
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    rh::zmqu::poll(items, std::chrono::duration_cast<rh::Duration>(
                              deadline - std::chrono::steady_clock::now()));
    zmq::message_t msg;
    if (sock.recv(msg, zmq::recv_flags::dontwait)) {
      json reply = json::parse(rh::zmqu::view(msg), nullptr, false);
      if (reply.is_discarded() || !reply.is_object()) {
        std::cerr << "hubctl: the hub sent a malformed reply\n";
        return {kFailure, {}};
      }
      return {reply.value("code", kFailure), reply};
    }
  }
  std::cerr << "hubctl: the hub did not answer within " << rh::formatDuration(timeout) << '\n';
  return {kFailure, {}};
}

std::string fmtSeconds(double s) {
  char buf[32];
  if (s < 120)
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 7200)
    std::snprintf(buf, sizeof buf, "%.1fm", s / 60);
  else
    std::snprintf(buf, sizeof buf, "%.1fh", s / 3600);
  return buf;
}

void printStatusTable(const json& st) {
  std::printf("node %s  pid %d  up %s  %s  desk %s\n", st.value("node", "?").c_str(),
              st.value("pid", 0), fmtSeconds(st.value("uptime_s", 0.0)).c_str(),
              st.value("phase", "?").c_str(), st.value("desk", "?").c_str());
  std::printf("\n%-24s %-7s %-18s %-8s %-9s %-9s %s\n", "PROCESS", "KIND", "STATE", "PID",
              "RESTARTS", "UPTIME", "LAST EXIT");
  for (const auto& p : st.value("processes", json::array())) {
    std::string state = p.value("state", "?");
    if (p.contains("next_restart_in_s"))
      state += " " + fmtSeconds(p["next_restart_in_s"].get<double>());
    if (p.value("throttled", false)) state += " (throttled)";
    if (p.value("desk_only", false) && st.value("desk", "") == "off" && state == "stopped")
      state += " (desk off)";
    std::printf("%-24s %-7s %-18s %-8d %-9d %-9s %s\n", p.value("id", "?").c_str(),
                p.value("kind", "?").c_str(), state.c_str(), p.value("pid", 0),
                p.value("restarts", 0), fmtSeconds(p.value("uptime_s", 0.0)).c_str(),
                p.value("last_exit", "").c_str());
  }
  std::printf("\n%-16s %-10s %-9s %-10s %-10s %-13s %-7s %s\n", "OUTPUT", "CONNECTED", "BACKLOG",
              "IN-FLIGHT", "DELIVERED", "RETRIES", "FAILED", "LAST ERROR");
  for (const auto& o : st.value("outputs", json::array())) {
    std::string retries = std::to_string(o.value("retries", 0ULL));
    if (o.value("retrying", false))
      retries += " (next " + fmtSeconds(o.value("next_retry_in_s", 0.0)) + ")";
    std::printf("%-16s %-10s %-9llu %-10llu %-10llu %-13s %-7llu %s\n",
                o.value("output", "?").c_str(), o.value("connected", false) ? "yes" : "no",
                o.value("backlog", 0ULL), o.value("in_flight", 0ULL), o.value("delivered", 0ULL),
                retries.c_str(), o.value("failed", 0ULL), o.value("last_error", "").c_str());
  }
  const auto links = st.value("links", json::array());
  if (!links.empty()) {
    std::printf("\n%-16s %-28s %-10s %-10s %-9s %-10s %s\n", "LINK TO NODE", "ADDRESS", "CONNECTED",
                "SINCE", "BACKLOG", "DELIVERED", "LAST ERROR");
    const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    for (const auto& l : links) {
      const auto since_ns = l.value("since_ns", std::int64_t{0});
      const std::string since =
          since_ns > 0 ? fmtSeconds(static_cast<double>(now_ns - since_ns) / 1e9) + " ago" : "-";
      std::printf("%-16s %-28s %-10s %-10s %-9llu %-10llu %s\n", l.value("node", "?").c_str(),
                  l.value("address", "").c_str(), l.value("connected", false) ? "yes" : "no",
                  since.c_str(), l.value("backlog", 0ULL), l.value("delivered", 0ULL),
                  l.value("last_error", "").c_str());
    }
  }
  const auto& c = st.value("counters", json::object());
  std::printf(
      "\nreports: accepted %llu, delivered %llu, unknown category %llu, malformed %llu, "
      "refused %llu, unknown recipient %llu, circular %llu\n",
      c.value("accepted", 0ULL), c.value("delivered", 0ULL), c.value("unknown_category", 0ULL),
      c.value("malformed", 0ULL), c.value("refused", 0ULL), c.value("unknown_recipient", 0ULL),
      c.value("circular", 0ULL));
}

// The severity of an operator-log line: the fourth field of a text line, or the JSON key.
std::string_view severityOf(std::string_view line) {
  if (line.starts_with('{')) {
    constexpr std::string_view kKey = "\"severity\":\"";
    const auto at = line.find(kKey);
    if (at == std::string_view::npos) return {};
    const auto from = at + kKey.size();
    return line.substr(from, line.find('"', from) - from);
  }
  std::size_t from = 0;
  for (int field = 0; field < 3; ++field) {
    from = line.find(' ', from);
    if (from == std::string_view::npos) return {};
    ++from;
  }
  return line.substr(from, line.find(' ', from) - from);
}

void printLine(std::string_view line, bool colour) {
  const char* start = nullptr;
  if (colour) {
    const auto sev = severityOf(line);
    if (sev == "critical") start = "\033[1;31m";
    if (sev == "error") start = "\033[31m";
    if (sev == "warning") start = "\033[33m";
  }
  if (start) std::cout << start;
  std::cout << line;
  if (start) std::cout << "\033[0m";
  std::cout << '\n';
}

// The last `n` complete lines of the operator log (fewer if it is shorter).
std::vector<std::string> lastLines(const std::filesystem::path& file, std::size_t n) {
  std::vector<std::string> lines;
  std::ifstream in(file, std::ios::binary);
  if (!in || n == 0) return lines;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  // Read back in growing blocks until n newlines are in hand (or the file start).
  std::streamoff block = 64 * 1024;
  std::string tail;
  for (;;) {
    const std::streamoff from = std::max<std::streamoff>(0, size - block);
    tail.assign(static_cast<std::size_t>(size - from), '\0');
    in.seekg(from);
    in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
    if (from == 0 || static_cast<std::size_t>(std::count(tail.begin(), tail.end(), '\n')) > n)
      break;
    block *= 4;
  }
  const auto last_newline = tail.rfind('\n');
  if (last_newline == std::string::npos) return lines;
  tail.resize(last_newline);  // a partial last line is still being written
  std::size_t end = tail.size();
  while (lines.size() < n) {
    const auto nl = end == 0 ? std::string::npos : tail.rfind('\n', end - 1);
    const std::size_t begin = nl == std::string::npos ? 0 : nl + 1;
    if (end > begin || nl != std::string::npos) lines.push_back(tail.substr(begin, end - begin));
    if (nl == std::string::npos) break;
    end = nl;
  }
  std::reverse(lines.begin(), lines.end());
  return lines;
}

int cmdConsole(const rh::config::Location& cfg, std::size_t replay, bool colour) {
  if (int code = checkHub(cfg); code != kOk) return code;
  zmq::context_t ctx(1);
  zmq::socket_t sub(ctx, zmq::socket_type::sub);
  rh::zmqu::configure(sub, 100'000, std::chrono::milliseconds(0));
  sub.set(zmq::sockopt::subscribe, "");
  sub.connect(cfg.consoleEndpoint());
  std::cerr << "following the operator console of " << cfg.node << " (Ctrl-C to stop)\n";
  signal(SIGPIPE, SIG_DFL);
  // Subscribed first, then the log's tail: a line written in between arrives both ways and
  // is printed once.
  std::set<std::string> replayed;
  for (auto& line : lastLines(cfg.operator_log, replay)) {
    printLine(line, colour);
    replayed.insert(std::move(line));
  }
  std::cout << std::flush;
  std::vector<zmq::pollitem_t> items{{sub.handle(), 0, ZMQ_POLLIN, 0}};
  for (;;) {
    // Between lines, notice when the hub has gone: a console that waits forever on a dead
    // hub would look like a quiet one.
    if (rh::zmqu::poll(items, std::chrono::seconds(1)) == 0) {
      if (!rh::ExclusiveLock::holder(cfg.lockPath())) {
        std::cerr << "hubctl: the hub has stopped\n";
        return kOk;
      }
      continue;
    }
    zmq::message_t msg;
    while (sub.recv(msg, zmq::recv_flags::dontwait)) {
      const std::string_view line = rh::zmqu::view(msg);
      if (!replayed.empty() && replayed.erase(std::string(line)) > 0) continue;
      printLine(line, colour);
    }
    std::cout << std::flush;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"hubctl: control a running reporthub"};
  app.require_subcommand(1);
  std::string file;
  app.add_option("-c,--config", file, "the hub's config file")->required();
  double timeout_s = 10;
  app.add_option("--timeout", timeout_s, "seconds to wait for the hub's answer")->default_val(10);

  auto* deskon = app.add_subcommand("deskon", "enable desk processing (DeskOn)");
  auto* deskoff = app.add_subcommand("deskoff", "disable desk processing (DeskOff)");
  bool wait = false;
  auto* dmstop = app.add_subcommand("dmstop", "two-stage shutdown of the hub (DMStop)");
  dmstop->add_flag("--wait", wait, "return only when the hub has exited");
  bool as_json = false, offline = false;
  auto* status = app.add_subcommand("status", "processes, desk state, queues, counters");
  status->add_flag("--json", as_json, "print the status as JSON");
  status->add_flag("--offline", offline, "read the status file instead of asking the hub");
  auto* reload = app.add_subcommand("reload", "validate and apply the config file again");
  std::string category, severity = "info", text;
  std::vector<std::string> attrs;
  auto* report = app.add_subcommand("report", "submit one report (for jobs and scripts)");
  report->add_option("-C,--category", category, "report category")->required();
  report->add_option("-s,--severity", severity, "info, warning, error or critical");
  report->add_option("-a,--attr", attrs, "KEY=VALUE attribute (repeatable)");
  report->add_option("text", text, "report text")->required();
  auto* console = app.add_subcommand("console", "follow the operator console live");
  std::size_t replay = 0;
  console->add_option("-n,--lines", replay, "first show the last N lines of the operator log");
  std::string colour = "auto";
  console->add_option("--color", colour, "colour by severity: auto (on a terminal), always, never")
      ->check(CLI::IsMember({"auto", "always", "never"}));
  auto* reopen = app.add_subcommand("reopen", "make outputs reopen their files (logrotate)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? kOk : kUsage;
  }

  rh::config::Location cfg;
  try {
    cfg = rh::config::locate(rh::config::readFile(file), file);
  } catch (const rh::config::ConfigError& e) {
    for (const auto& p : e.problems())
      std::cerr << p.str() << '\n';
    return kUsage;
  }
  const auto timeout = rh::Duration(static_cast<std::int64_t>(timeout_s * 1000));

  if (*console) {
    const bool use_colour = colour == "always" || (colour == "auto" && isatty(STDOUT_FILENO));
    return cmdConsole(cfg, replay, use_colour);
  }

  if (*status && offline) {
    std::ifstream in(cfg.statusPath());
    json st = json::parse(in, nullptr, false);
    if (!in.is_open() || st.is_discarded()) {
      std::cerr << "hubctl: no readable status file at " << cfg.statusPath().string() << '\n';
      return kFailure;
    }
    if (as_json)
      std::cout << st.dump(2) << '\n';
    else
      printStatusTable(st);
    return kOk;
  }

  json req;
  if (*deskon) req = {{"cmd", "deskon"}};
  if (*deskoff) req = {{"cmd", "deskoff"}};
  if (*dmstop) req = {{"cmd", "dmstop"}};
  if (*status) req = {{"cmd", "status"}};
  if (*reload) req = {{"cmd", "reload"}};
  if (*reopen) req = {{"cmd", "reopen"}};
  if (*report) {
    if (!rh::parseSeverity(severity)) {
      std::cerr << "hubctl: bad severity '" << severity
                << "' (use info, warning, error or critical)\n";
      return kUsage;
    }
    json a = json::object();
    for (const auto& kv : attrs) {
      auto eq = kv.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "hubctl: bad attribute '" << kv << "' (use KEY=VALUE)\n";
        return kUsage;
      }
      a[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    req = {{"cmd", "report"},
           {"category", category},
           {"severity", severity},
           {"text", text},
           {"attrs", a}};
    try {
      (void)req.dump();  // the request is JSON, which holds only UTF-8
    } catch (const json::type_error&) {
      std::cerr << "hubctl: the category, text and attributes must be valid UTF-8; nothing "
                   "was sent\n";
      return kUsage;
    }
  }

  Outcome out = request(cfg, req, timeout);
  if (out.reply.is_null()) return out.code;
  const std::string message = out.reply.value("message", "");
  if (*status && out.code == kOk) {
    if (as_json)
      std::cout << out.reply["status"].dump(2) << '\n';
    else
      printStatusTable(out.reply["status"]);
    return kOk;
  }
  if (out.code != kOk) {
    std::cerr << "hubctl: " << message << '\n';
    return out.code;
  }
  if (*report)
    std::cout << out.reply.value("id", "") << '\n';
  else if (!message.empty())
    std::cout << message << '\n';
  if (*dmstop && wait) {
    // The hub is gone when its lock is free. A legitimate DMStop may take three kill
    // timeouts: inputs, outputs draining, outputs stopping.
    const auto patience = 3 * cfg.kill_timeout + std::chrono::seconds(30);
    const auto deadline = std::chrono::steady_clock::now() + patience;
    while (rh::ExclusiveLock::holder(cfg.lockPath())) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::cerr << "hubctl: the hub is still running after "
                  << rh::formatDuration(std::chrono::duration_cast<rh::Duration>(patience))
                  << "; it was not killed\n";
        return kFailure;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::cout << "hub stopped\n";
  }
  return kOk;
}
