// All of logscan but its hub connection: one Follower per configured file, change
// notification (inotify) so new lines are read at once, the mapping from acknowledged reports
// to offsets, and the offsets file. The role's loop (logscan.cpp) drives it; tests and the
// benchmark drive it directly with a Sink of their own.
#pragma once

#include "config/config.h"
#include "inputs/logscan/follower.h"
#include "inputs/logscan/state.h"

#include <filesystem>
#include <map>
#include <memory>
#include <utility>
#include <vector>

namespace reporthub::inputs::logscan {

struct ScannerOptions {
  Duration rotate_wait = std::chrono::seconds(5);  // see FollowOptions
  std::size_t block = 1 << 20;                     // bytes per read
};

class Scanner {
 public:
  // Compiles every file's rules; throws std::invalid_argument if one does not compile.
  Scanner(const config::Config& cfg, Sink& sink, ScannerOptions opts = {});
  ~Scanner();
  Scanner(const Scanner&) = delete;
  Scanner& operator=(const Scanner&) = delete;

  // Loads the offsets file (one that cannot be parsed is set aside, and reading starts
  // afresh) and opens the files. Throws std::system_error if the state directory cannot be
  // created. May throw Stopping.
  void start();
  // Reads new data, up to about `budget` bytes in all; true if more may be waiting.
  bool read(std::size_t budget);
  // Rotation, truncation and appearance of every path; also ends idle rotated files.
  void check();
  // Reports up to seq `upto` are acknowledged by the hub: forgets them. Not during read().
  void acked(std::uint64_t upto);
  // Whether the state, with reports up to seq `acked` acknowledged, differs from what was
  // last written.
  bool dirty(std::uint64_t acked) const;
  // Writes the offsets file, counting reports up to seq `acked` as acknowledged, if it
  // changed. Safe to call from a Sink while read() runs. False (logged once per failure
  // streak) on error.
  bool save(std::uint64_t acked);

  // inotify descriptor to poll (-1 if unavailable: then only the poll interval finds news).
  int notifyFd() const { return inotify_fd_; }
  // Reads pending notifications. True if names changed in a watched directory: check() is
  // due. Any notification means read() may find something.
  bool drainNotify();
  // Whether a read found a file shorter than its offset: check() is due at once.
  bool wantsCheck() const;

  const std::filesystem::path& stateFile() const { return state_file_; }
  std::size_t filesFollowed() const;

 private:
  State current(std::uint64_t acked) const;
  void syncWatches();

  config::LogscanInput cfg_;
  std::filesystem::path state_file_;
  std::vector<std::unique_ptr<Follower>> followers_;
  std::vector<char> buf_;
  State saved_;
  bool save_failing_ = false;
  int inotify_fd_ = -1;
  std::map<int, std::filesystem::path> dir_watches_;                     // wd -> directory
  std::map<std::pair<std::uint64_t, std::uint64_t>, int> file_watches_;  // (dev, ino) -> wd
  std::map<std::uint32_t, std::pair<int, std::string>> moves_;           // cookie -> (wd, old name)
};

}  // namespace reporthub::inputs::logscan
