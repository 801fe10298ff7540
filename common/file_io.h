// Whole reads and writes that survive EINTR and short transfers: the one place for the loops
// the journal, config loading, the child's config hand-over and the outputs all need.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

namespace reporthub {

// Writes `data` to `fd`, continuing after short writes. Returns the bytes written: fewer than
// data.size() only when an error stopped it, with errno saying which.
std::size_t writeAll(int fd, std::string_view data);

// Appends what `fd` holds from `offset` to its end to `out`. Uses pread, so a descriptor
// shared with other processes keeps its own offset. False with errno set on error.
bool readFrom(int fd, off_t offset, std::string& out);

// Reads `path` from `offset` to its end. Throws std::system_error naming the call and path.
std::string readFileFrom(const std::filesystem::path& path, off_t offset = 0);

}  // namespace reporthub
