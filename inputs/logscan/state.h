// What logscan keeps on disk between runs: for every configured path, the files it was
// following (current and rotated away), each with its identity and the offset up to which
// every line is reported and acknowledged by the hub. The file is replaced atomically.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace reporthub::inputs::logscan {

// One followed file. `dev`, `ino` and `btime_ns` find it again after a restart (also under
// its rotated name); `fp_len`/`fp` (a hash of its first bytes) tell whether its content is
// still the content that was read; `key` is the prefix of its report ids, fixed when it was
// first opened so that lines read again get the same ids.
struct FileRecord {
  std::uint64_t dev = 0;
  std::uint64_t ino = 0;
  std::int64_t btime_ns = 0;  // birth time; 0 where the file system does not tell
  std::uint32_t gen = 0;      // truncations seen of this inode
  std::uint64_t key = 0;
  std::uint32_t fp_len = 0;
  std::uint64_t fp = 0;
  std::uint64_t offset = 0;  // everything before it is reported and acknowledged
  bool current = true;       // the configured path led to it when saved
  std::uint64_t long_lines = 0;
  bool long_said = false;  // the operator was told about its long lines
  bool operator==(const FileRecord&) const = default;
};

struct PathState {
  std::vector<FileRecord> files;  // rotated ones first, the current one last
  bool operator==(const PathState&) const = default;
};

// By configured path. A path present with no files existed in the config but not on disk.
using State = std::map<std::string, PathState>;

// Reads the state file; an absent file is an empty state. Throws std::runtime_error if it
// cannot be read or parsed.
State loadState(const std::filesystem::path& file);

// Writes `file` atomically (temporary file, fdatasync, rename). Throws std::system_error.
void saveState(const std::filesystem::path& file, const State& state);

}  // namespace reporthub::inputs::logscan
