// Tests of following files as they really behave (inputs/logscan/scanner.h, follower.h),
// without a hub: a sink records the reports, the test acknowledges them, and a "kill" is a
// scanner dropped without saving. What an operator would see is each report id once, so the
// checks deduplicate by id as the outputs do and then expect every matching line once.
#include "inputs/logscan/scanner.h"

#include "common/report.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <vector>

using namespace reporthub;
using namespace reporthub::inputs::logscan;
using reporthub::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct FakeSink : Sink {
  std::vector<Report> reports;
  std::uint64_t submit(const Report& r) override {
    reports.push_back(r);
    return reports.size();
  }
};

void append(const fs::path& p, const std::string& text) {
  const int fd = open(p.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
}

std::string lines(int from, int to, const std::string& tag = "") {
  std::string out;
  for (int i = from; i <= to; ++i) {
    out += "info " + tag + std::to_string(i) + " nothing\n";
    if (i % 3 == 0) out += "ERROR " + tag + std::to_string(i) + "\n";
  }
  return out;
}

std::multiset<std::string> expected(int from, int to, const std::string& tag = "") {
  std::multiset<std::string> out;
  for (int i = from; i <= to; ++i) {
    if (i % 3 == 0) out.insert("error " + tag + std::to_string(i));
  }
  return out;
}

// The texts an operator sees: one per report id.
std::multiset<std::string> seen(const std::vector<const FakeSink*>& sinks) {
  std::map<std::string, std::string> by_id;
  for (const auto* s : sinks) {
    for (const auto& r : s->reports) {
      if (r.category != "REPORTHUB") by_id.emplace(r.id, r.text);
    }
  }
  std::multiset<std::string> out;
  for (const auto& [id, text] : by_id)
    out.insert(text);
  return out;
}

struct Fixture {
  TempDir dir;
  config::Config cfg;
  fs::path log;

  explicit Fixture(config::StartAt start_at = config::StartAt::beginning,
                   std::uint32_t max_line = 64 * 1024) {
    log = dir / "app.log";
    cfg.node = "alpha";
    cfg.state_dir = dir / "var";
    config::LogRule rule;
    rule.match = R"(ERROR (\w+))";
    rule.category = "APP";
    rule.severity = Severity::error;
    rule.text = "error {1}";
    config::LogFile file;
    file.path = log;
    file.rules = {rule};
    file.start_at = start_at;
    config::LogscanInput ls;
    ls.files = {file};
    ls.max_line = max_line;
    cfg.inputs.logscan = ls;
  }

  std::unique_ptr<Scanner> scanner(FakeSink& sink) {
    ScannerOptions o;
    o.rotate_wait = std::chrono::milliseconds(0);  // rotated files end at the next check
    o.block = 4096;                                // many reads per test file
    auto s = std::make_unique<Scanner>(cfg, sink, o);
    s->start();
    return s;
  }

  fs::path stateFile() const { return cfg.state_dir / "logscan" / "offsets.json"; }
};

// Reads and checks until nothing changes: what the role's loop does between wake-ups.
void settle(Scanner& s) {
  for (int i = 0; i < 3; ++i) {
    while (s.read(1 << 20)) {
    }
    s.check();
  }
  while (s.read(1 << 20)) {
  }
}

// Everything submitted is acknowledged, and the offsets saved.
bool saveAll(Scanner& s, const FakeSink& sink) {
  s.acked(sink.reports.size());
  return s.save(sink.reports.size());
}

}  // namespace

TEST_CASE("logscan reads complete lines and waits for a partial last line", "[logscan]") {
  Fixture f;
  append(f.log, "info start\nERROR one\nERROR tw");
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  REQUIRE(sink.reports.size() == 1);
  const Report& r = sink.reports[0];
  CHECK(r.text == "error one");
  CHECK(r.category == "APP");
  CHECK(r.severity == Severity::error);
  CHECK(r.source == "logscan");
  CHECK(r.origin == "alpha");
  CHECK(validReportId(r.id));
  CHECK(r.attrs.at("file") == f.log.string());
  CHECK(r.attrs.at("offset") == "11");
  CHECK(r.attrs.at("rule") == "1");

  append(f.log, "o\n");
  settle(*s);
  REQUIRE(sink.reports.size() == 2);
  CHECK(sink.reports[1].text == "error two");
  CHECK(sink.reports[1].attrs.at("offset") == "21");
}

TEST_CASE("logscan follows a file that appears later from its start", "[logscan]") {
  Fixture f(config::StartAt::end);
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  CHECK(sink.reports.empty());
  append(f.log, lines(1, 30));
  settle(*s);
  CHECK(seen({&sink}) == expected(1, 30));
}

TEST_CASE("start_at end skips what the file held at the first start only", "[logscan]") {
  Fixture f(config::StartAt::end);
  append(f.log, lines(1, 30) + "ERROR partial");
  {
    FakeSink sink;
    auto s = f.scanner(sink);
    settle(*s);
    CHECK(sink.reports.empty());
    append(f.log, "-line\n" + lines(31, 40));
    settle(*s);
    // The partial line at the first start is read whole once it ends.
    auto want = expected(31, 40);
    want.insert("error partial");
    CHECK(seen({&sink}) == want);
    REQUIRE(saveAll(*s, sink));
  }
  // A restart resumes at the saved offset: start_at no longer applies.
  append(f.log, lines(41, 50));
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  CHECK(seen({&sink}) == expected(41, 50));
}

TEST_CASE("rotation by rename finishes the old file then follows the new one", "[logscan]") {
  Fixture f;
  FakeSink sink;
  append(f.log, lines(1, 100));
  auto s = f.scanner(sink);
  settle(*s);
  // The writer keeps its descriptor for a while after the rename, as applications do until
  // they are told to reopen; its last line has no newline.
  const int old_fd = open(f.log.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  REQUIRE(old_fd >= 0);
  fs::rename(f.log, f.dir / "app.log.1");
  const std::string late = lines(101, 200) + "ERROR last";
  REQUIRE(write(old_fd, late.data(), late.size()) == static_cast<ssize_t>(late.size()));
  close(old_fd);
  append(f.log, lines(201, 300));
  settle(*s);
  auto want = expected(1, 300);
  want.insert("error last");
  CHECK(seen({&sink}) == want);
  CHECK(sink.reports.size() == want.size());  // nothing twice, even under its own id
  // Old content first: the last report from the old file precedes the new file's first.
  std::size_t last_old = 0, first_new = sink.reports.size();
  for (std::size_t i = 0; i < sink.reports.size(); ++i) {
    const auto& t = sink.reports[i].text;
    const int n = t == "error last" ? 200 : std::stoi(t.substr(6));
    if (n <= 200) last_old = i;
    if (n > 200) first_new = std::min(first_new, i);
  }
  CHECK(last_old < first_new);
  CHECK(s->filesFollowed() == 1);
}

TEST_CASE("a file created and rotated before logscan looked is still read", "[logscan]") {
  Fixture f;
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  REQUIRE(s->notifyFd() >= 0);
  // Between two looks: created, written, renamed, and a new file in its place.
  append(f.log, lines(1, 60));
  fs::rename(f.log, f.dir / "app.log.1");
  append(f.log, lines(1, 30, "new"));
  s->drainNotify();
  settle(*s);
  auto want = expected(1, 60);
  for (const auto& t : expected(1, 30, "new"))
    want.insert(t);
  CHECK(seen({&sink}) == want);
  REQUIRE(sink.reports.size() == want.size());
  CHECK(sink.reports.front().text == "error 3");  // the older file first
}

TEST_CASE("copy-truncate reads the rest from the copy then the file from its start", "[logscan]") {
  Fixture f;
  FakeSink sink;
  append(f.log, lines(1, 100));
  auto s = f.scanner(sink);
  settle(*s);
  // Written after the last read: only the copy holds these once the file is truncated.
  append(f.log, lines(101, 150));
  fs::copy_file(f.log, f.dir / "app.log.1");
  REQUIRE(truncate(f.log.c_str(), 0) == 0);
  append(f.log, lines(1, 20, "new"));
  settle(*s);
  auto want = expected(1, 150);
  for (const auto& t : expected(1, 20, "new"))
    want.insert(t);
  CHECK(seen({&sink}) == want);
  CHECK(sink.reports.size() == want.size());
}

TEST_CASE("content written after a truncation is never read as the old content", "[logscan]") {
  Fixture f;
  append(f.log, lines(1, 100));
  FakeSink sink;
  auto s = f.scanner(sink);  // opened and fingerprinted, nothing read yet
  fs::copy_file(f.log, f.dir / "app.log.1");
  REQUIRE(truncate(f.log.c_str(), 0) == 0);
  append(f.log, lines(1, 300, "new"));  // longer than the old content: the size cannot tell
  settle(*s);
  auto want = expected(1, 100);
  for (const auto& t : expected(1, 300, "new"))
    want.insert(t);
  CHECK(seen({&sink}) == want);
  CHECK(sink.reports.size() == want.size());
}

TEST_CASE("truncation without a copy reads the file from its start", "[logscan]") {
  Fixture f;
  FakeSink sink;
  append(f.log, lines(1, 90));
  auto s = f.scanner(sink);
  settle(*s);
  REQUIRE(truncate(f.log.c_str(), 0) == 0);
  append(f.log, lines(1, 9, "new"));
  settle(*s);
  auto want = expected(1, 90);
  for (const auto& t : expected(1, 9, "new"))
    want.insert(t);
  CHECK(seen({&sink}) == want);
  // The same offsets in the new content are new reports: their ids differ.
  std::set<std::string> ids;
  for (const auto& r : sink.reports)
    ids.insert(r.id);
  CHECK(ids.size() == sink.reports.size());
}

TEST_CASE("long lines are cut, counted and announced once per file", "[logscan]") {
  Fixture f(config::StartAt::beginning, 100);
  const std::string huge = "ERROR huge " + std::string(300 * 1024, 'x') + "\n";  // > one read
  append(f.log, "ERROR a\nERROR " + std::string(200, 'b') + "\n" + huge + "ERROR c\n");
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  std::vector<std::string> texts;
  int notices = 0, cut = 0;
  for (const auto& r : sink.reports) {
    if (r.category == "REPORTHUB") {
      ++notices;
      CHECK(r.severity == Severity::warning);
      CHECK(r.text.find("longer than max_line (100 bytes)") != std::string::npos);
      CHECK(r.attrs.at("offset") == "8");
      continue;
    }
    texts.push_back(r.text);
    if (r.attrs.count("truncated")) ++cut;
  }
  CHECK(notices == 1);
  REQUIRE(texts.size() == 4);
  CHECK(texts[0] == "error a");
  CHECK(texts[1] == "error " + std::string(94, 'b'));  // \w+ stops where the line was cut
  CHECK(texts[2] == "error huge");
  CHECK(texts[3] == "error c");
  CHECK(cut == 2);
  REQUIRE(saveAll(*s, sink));
  const auto state = loadState(f.stateFile());
  REQUIRE(state.at(f.log.string()).files.size() == 1);
  const auto& rec = state.at(f.log.string()).files[0];
  CHECK(rec.long_lines == 2);
  CHECK(rec.long_said);
  CHECK(rec.offset == fs::file_size(f.log));
}

TEST_CASE("offsets count only acknowledged reports", "[logscan]") {
  Fixture f;
  append(f.log, "info a\ninfo b\nERROR x\ninfo c\nERROR y\ninfo d\n");
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  REQUIRE(sink.reports.size() == 2);
  REQUIRE(s->save(0));
  auto offset = [&] { return loadState(f.stateFile()).at(f.log.string()).files.at(0).offset; };
  CHECK(offset() == 14);  // the first line with an unacknowledged report
  REQUIRE(s->save(1));
  CHECK(offset() == 29);
  CHECK(s->dirty(2));
  REQUIRE(s->save(2));
  CHECK_FALSE(s->dirty(2));
  CHECK(offset() == fs::file_size(f.log));
}

TEST_CASE("offsets saved while a read submits never pass a line not yet submitted", "[logscan]") {
  // A Sink that saves now and then as logscan's does when a save falls due in the middle of
  // a read: with the latest report not yet acknowledged, or with all of them. Saved offsets
  // never pass the line being submitted and never go back.
  struct SavingSink : Sink {
    Scanner* scanner = nullptr;
    fs::path state;
    std::uint64_t n = 0;
    std::uint64_t last_saved = 0;
    std::uint64_t submit(const Report& r) override {
      if (n % 50 == 0 && n > 0) {
        const std::uint64_t acked = n % 100 == 0 ? n : n - 1;
        REQUIRE(scanner->save(acked));
        const auto saved = loadState(state).begin()->second.files.at(0).offset;
        const auto line = std::stoull(r.attrs.at("offset"));
        INFO("report " << n + 1 << " at " << line << ", acknowledged up to " << acked);
        CHECK(saved <= line);
        CHECK(saved >= last_saved);
        last_saved = saved;
      }
      return ++n;
    }
  };
  Fixture f;
  append(f.log, lines(1, 30000));  // several reads: the scanner's buffer is 128 KiB here
  SavingSink sink;
  sink.state = f.stateFile();
  ScannerOptions o;
  o.block = 4096;
  Scanner s(f.cfg, sink, o);
  sink.scanner = &s;
  s.start();
  while (s.read(1 << 20)) {
  }
  CHECK(sink.n == 10000);
  CHECK(sink.last_saved > 0);
  REQUIRE(s.save(sink.n));
  CHECK(loadState(f.stateFile()).begin()->second.files.at(0).offset == fs::file_size(f.log));
}

TEST_CASE("a restart resumes at the first unacknowledged line with the same ids", "[logscan]") {
  Fixture f;
  append(f.log, lines(1, 300));
  FakeSink first;
  {
    auto s = f.scanner(first);
    settle(*s);
    REQUIRE(first.reports.size() == 100);
    s->acked(40);
    REQUIRE(s->save(40));
    s->acked(100);  // acknowledged, but killed before saving it
  }
  append(f.log, lines(301, 330));
  FakeSink second;
  auto s = f.scanner(second);
  settle(*s);
  REQUIRE_FALSE(second.reports.empty());
  // Nothing before the saved offset again; lines read again carry their first ids.
  CHECK(second.reports[0].id == first.reports[40].id);
  CHECK(second.reports[0].text == first.reports[40].text);
  CHECK(second.reports.size() == 60 + 10);
  CHECK(seen({&first, &second}) == expected(1, 330));
}

TEST_CASE("a restart finishes a file rotated while logscan was stopped", "[logscan]") {
  Fixture f;
  append(f.log, lines(1, 60));
  {
    FakeSink sink;
    auto s = f.scanner(sink);
    settle(*s);
    REQUIRE(saveAll(*s, sink));
  }
  append(f.log, lines(61, 90));
  fs::rename(f.log, f.dir / "app.log.1");
  append(f.log, lines(1, 30, "new"));
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  auto want = expected(61, 90);
  for (const auto& t : expected(1, 30, "new"))
    want.insert(t);
  CHECK(seen({&sink}) == want);
  REQUIRE(sink.reports.size() == want.size());
  CHECK(sink.reports.front().text == "error 63");  // the rotated file first
  CHECK(sink.reports.back().text == "error new30");
}

TEST_CASE("a file truncated while logscan was stopped is read from its copy first", "[logscan]") {
  Fixture f;
  append(f.log, lines(1, 60));
  {
    FakeSink sink;
    auto s = f.scanner(sink);
    settle(*s);
    REQUIRE(saveAll(*s, sink));
  }
  append(f.log, lines(61, 90));
  fs::copy_file(f.log, f.dir / "app.log.1");
  REQUIRE(truncate(f.log.c_str(), 0) == 0);
  append(f.log, lines(1, 300, "new"));  // longer than before: only the fingerprint tells
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  auto want = expected(61, 90);
  for (const auto& t : expected(1, 300, "new"))
    want.insert(t);
  CHECK(seen({&sink}) == want);
  CHECK(sink.reports.size() == want.size());
}

TEST_CASE("a corrupt offsets file is set aside", "[logscan]") {
  Fixture f;
  append(f.log, lines(1, 9));
  fs::create_directories(f.stateFile().parent_path());
  std::ofstream(f.stateFile()) << "{ not json";
  FakeSink sink;
  auto s = f.scanner(sink);
  settle(*s);
  CHECK(fs::exists(f.stateFile().string() + ".bad"));
  CHECK(seen({&sink}) == expected(1, 9));
  REQUIRE(saveAll(*s, sink));
  CHECK(loadState(f.stateFile()).at(f.log.string()).files.at(0).offset == fs::file_size(f.log));
}
