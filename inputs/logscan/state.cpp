// The offsets file; see state.h. JSON, so an operator can read what logscan believes.
#include "inputs/logscan/state.h"

#include "common/file_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <system_error>

namespace reporthub::inputs::logscan {

namespace {

constexpr int kVersion = 1;

std::string hex(std::uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

std::uint64_t unhex(const std::string& s) {
  std::size_t used = 0;
  const auto v = std::stoull(s, &used, 16);
  if (used != s.size()) throw std::invalid_argument("not hexadecimal: " + s);
  return v;
}

}  // namespace

State loadState(const std::filesystem::path& file) {
  std::string text;
  try {
    text = readFileFrom(file);
  } catch (const std::system_error& e) {
    if (e.code().value() == ENOENT) return {};
    throw std::runtime_error(e.what());
  }
  State state;
  try {
    const auto j = nlohmann::json::parse(text);
    if (j.at("version").get<int>() != kVersion) {
      throw std::runtime_error("unknown version " + j.at("version").dump());
    }
    for (const auto& [path, files] : j.at("files").items()) {
      PathState& ps = state[path];
      for (const auto& f : files) {
        FileRecord r;
        r.dev = f.at("dev").get<std::uint64_t>();
        r.ino = f.at("ino").get<std::uint64_t>();
        r.btime_ns = f.at("btime_ns").get<std::int64_t>();
        r.gen = f.at("gen").get<std::uint32_t>();
        r.key = unhex(f.at("key").get<std::string>());
        r.fp_len = f.at("fp_len").get<std::uint32_t>();
        r.fp = unhex(f.at("fp").get<std::string>());
        r.offset = f.at("offset").get<std::uint64_t>();
        r.current = f.at("current").get<bool>();
        r.long_lines = f.at("long_lines").get<std::uint64_t>();
        r.long_said = f.at("long_said").get<bool>();
        ps.files.push_back(r);
      }
    }
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot parse " + file.string() + ": " + e.what());
  }
  return state;
}

void saveState(const std::filesystem::path& file, const State& state) {
  nlohmann::json files = nlohmann::json::object();
  for (const auto& [path, ps] : state) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& r : ps.files) {
      list.push_back({{"dev", r.dev},
                      {"ino", r.ino},
                      {"btime_ns", r.btime_ns},
                      {"gen", r.gen},
                      {"key", hex(r.key)},
                      {"fp_len", r.fp_len},
                      {"fp", hex(r.fp)},
                      {"offset", r.offset},
                      {"current", r.current},
                      {"long_lines", r.long_lines},
                      {"long_said", r.long_said}});
    }
    files[path] = std::move(list);
  }
  const nlohmann::json j = {{"version", kVersion}, {"files", std::move(files)}};
  // Paths are bytes; a name that is not UTF-8 is written with replacement characters rather
  // than failing the save (loading then finds no entry for it and starts it afresh).
  const std::string text = j.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";

  const auto tmp = file.string() + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "open " + tmp);
  if (writeAll(fd, text) != text.size() || fdatasync(fd) != 0) {
    const int err = errno;
    close(fd);
    throw std::system_error(err, std::generic_category(), "write " + tmp);
  }
  close(fd);
  if (rename(tmp.c_str(), file.c_str()) != 0) {
    throw std::system_error(errno, std::generic_category(), "rename " + tmp);
  }
}

}  // namespace reporthub::inputs::logscan
