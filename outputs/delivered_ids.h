// A small persistent record of work an output has finished (a mail sent, a page printed),
// by key, so that a redelivery after a crash of the output or the hub is not done twice.
// Unlike RecentIds it survives the process: keys are appended to a file and fdatasynced once
// per batch; the file is read back at start and rewritten when it grows past twice its bound.
#pragma once

#include "outputs/recent_ids.h"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace reporthub::outputs {

class DeliveredIds {
 public:
  // Longest key accepted; keys are built by outputs from a report id and a few names.
  static constexpr std::size_t kMaxKey = 2048;

  // Opens `file` (created with mode 0600 if missing) and loads its newest `capacity` keys. A
  // torn last line, left by a crash during an append, is cut off: its batch was never
  // committed. Throws std::system_error naming the call and the file.
  explicit DeliveredIds(std::filesystem::path file, std::size_t capacity = 100'000);
  ~DeliveredIds();
  DeliveredIds(const DeliveredIds&) = delete;
  DeliveredIds& operator=(const DeliveredIds&) = delete;

  // Whether `key` was committed, or added in the current batch.
  bool contains(std::string_view key) const { return ids_.contains(key); }
  // Adds a key to the current batch. Keys are 1..kMaxKey bytes without '\n' (throws
  // std::invalid_argument otherwise: that is a bug in the caller, not a run-time fault).
  void add(std::string_view key);
  // Appends the batch to the file and fdatasyncs it. On failure the file is cut back to its
  // last committed length, the batch is forgotten (as by rollback) and `error` says why.
  bool commit(std::string& error);
  // Forgets the keys of the current batch.
  void rollback();

  std::size_t size() const { return ids_.size(); }
  std::size_t loaded() const { return loaded_; }  // keys read from the file at start
  const std::filesystem::path& file() const { return file_; }

 private:
  void open();
  void load();
  // Rewrites the file with only the keys still remembered; failure is logged, not fatal.
  void compact();

  std::filesystem::path file_;
  std::size_t capacity_;
  RecentIds ids_;
  std::string batch_;  // the current batch's lines, not yet written
  int fd_ = -1;
  off_t size_ = 0;         // committed length of the file
  std::size_t lines_ = 0;  // lines in the file (grows past capacity until compacted)
  std::size_t loaded_ = 0;
};

}  // namespace reporthub::outputs
