// Following one configured log path as files really behave: it may not exist yet, be
// rotated by rename (the old file is finished, then the new one followed), be copied and
// truncated, end in a partial line, or hold lines longer than max_line. Each file read is
// identified so that after a restart or a kill reading resumes where the acknowledged
// reports end, and lines read twice get the same report ids.
#pragma once

#include "common/duration.h"
#include "common/report.h"
#include "config/config.h"
#include "inputs/logscan/rules.h"
#include "inputs/logscan/state.h"

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace reporthub::inputs::logscan {

using Clock = std::chrono::steady_clock;

// Where matched lines go. Returns the sequence number the report was submitted under (the
// hub acknowledges cumulatively by it), or 0 if the process is stopping and it was not sent.
class Sink {
 public:
  virtual ~Sink() = default;
  virtual std::uint64_t submit(const Report& r) = 0;
};

// Thrown out of a read when the sink refused a report because the process is stopping.
struct Stopping {};

struct FollowOptions {
  std::string node;
  std::uint32_t max_line = 64 * 1024;
  // A file rotated away is read until it has not grown for this long (a writer may still be
  // finishing it), and then its unterminated last line is taken as it is.
  Duration rotate_wait = std::chrono::seconds(5);
};

class Follower {
 public:
  // Throws std::invalid_argument if a rule does not compile.
  Follower(const config::LogFile& cfg, const FollowOptions& opts, Sink& sink);
  ~Follower();
  Follower(const Follower&) = delete;
  Follower& operator=(const Follower&) = delete;

  // Resumes from what was saved for this path. `saved` null: the path was never followed,
  // so a file found there now starts at `start_at`; a file appearing later, at its start.
  void start(const PathState* saved, Clock::time_point now);
  // Looks at the path: a file that appeared, was renamed or removed (the old one is
  // finished), or truncated; ends rotated files idle for rotate_wait.
  void check(Clock::time_point now);
  // The path's file was renamed to `name` in the same directory (from inotify). If it is a
  // file never opened (created and rotated between two looks), the next check reads it from
  // its start, before the path's new file.
  void movedTo(const std::string& name) { moved_to_.push_back(name); }
  // Reads and scans up to about `budget` bytes of new data, rotated files first; `buf` is
  // scratch space larger than max_line. True if more may be waiting. Throws Stopping.
  bool read(std::size_t budget, std::vector<char>& buf, Clock::time_point now);
  // Every report up to seq `upto` is acknowledged: their lines count as done.
  void acked(std::uint64_t upto);
  // What to save: every file still followed or with unacknowledged reports, with offsets
  // that count reports up to seq `acked` as acknowledged. Changes nothing, so it may be
  // called while a read is submitting (a block's lines count only once all are submitted).
  PathState state(std::uint64_t acked) const;

  const std::filesystem::path& path() const { return cfg_.path; }
  // Descriptors of the files being read, with their (dev, ino), for change notification.
  struct OpenFile {
    int fd;
    std::uint64_t dev, ino;
  };
  std::vector<OpenFile> openFiles() const;
  // Set when a read found a file shorter than where reading had got: a check is due now.
  bool wantsCheck() const { return wants_check_; }
  std::size_t filesFollowed() const;  // current + rotated still being read

 private:
  struct Tracked;
  struct Opened;

  std::unique_ptr<Tracked> track(const Opened& o, std::uint32_t gen, std::uint64_t offset);
  std::unique_ptr<Tracked> resume(const Opened& o, const FileRecord& rec);
  bool locate(const FileRecord& rec, Opened& o, bool& at_path);
  bool findCopy(const Tracked& t, Opened& o);
  void retire(std::unique_ptr<Tracked> t, Clock::time_point now, bool finished);
  void truncated(Clock::time_point now, const char* how);
  void finish(Tracked& t, std::vector<char>& buf);
  std::size_t readSome(Tracked& t, std::vector<char>& buf, Clock::time_point now);
  void process(Tracked& t, std::string_view block, bool final);
  bool fingerprintHolds(Tracked& t, std::uint64_t size);
  void dropDone();

  config::LogFile cfg_;
  FollowOptions opts_;
  Sink& sink_;
  RuleSet rules_;
  std::string path_str_;
  std::unique_ptr<Tracked> current_;
  std::deque<std::unique_ptr<Tracked>> rotated_;  // oldest first; finished ones wait for acks
  bool apply_start_at_ = false;  // the next file opened at the path is the first ever seen
  bool wants_check_ = false;
  bool warned_missing_ = false;
  std::vector<char> finish_buf_;
  std::vector<std::string> moved_to_;
};

}  // namespace reporthub::inputs::logscan
