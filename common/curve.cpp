// CURVE key files and key text; see curve.h.
#include "common/curve.h"

#include "common/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zmq.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace reporthub::curve {

namespace {

// The Z85 alphabet (ZeroMQ RFC 32).
constexpr std::string_view kZ85 =
    "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

// Calls f(line_number, content) for each line that is neither blank nor a comment.
template <class F>
void forEachLine(const std::string& text, F f) {
  int number = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    const std::size_t end = std::min(text.find('\n', pos), text.size());
    ++number;
    const std::string_view line = trim(std::string_view(text).substr(pos, end - pos));
    if (!line.empty() && line.front() != '#') f(number, line);
    pos = end + 1;
  }
}

bool readWhole(const std::filesystem::path& file, std::string& text,
               std::vector<FileProblem>& problems) {
  try {
    text = readFileFrom(file);
  } catch (const std::system_error& e) {
    problems.push_back({0, std::string("cannot read: ") + e.code().message()});
    return false;
  }
  return true;
}

}  // namespace

// The same rule as node names in the config: they name files and appear in other configs.
bool validNodeName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

std::string FileProblem::str(const std::filesystem::path& file) const {
  if (line == 0) return file.string() + ": " + message;
  return file.string() + ":" + std::to_string(line) + ": " + message;
}

std::string keyProblem(std::string_view text) {
  if (text.size() != kKeyTextSize) {
    return "a CURVE key is " + std::to_string(kKeyTextSize) + " characters of Z85, got " +
           std::to_string(text.size());
  }
  for (char c : text) {
    if (kZ85.find(c) == std::string_view::npos) {
      return std::string("a CURVE key is Z85 text; '") + c + "' is not a Z85 character";
    }
  }
  return {};
}

KeyPair generate() {
  char pub[kKeyTextSize + 1], sec[kKeyTextSize + 1];
  if (zmq_curve_keypair(pub, sec) != 0) {
    throw std::runtime_error(std::string("zmq_curve_keypair: ") + zmq_strerror(zmq_errno()) +
                             " (libzmq without CURVE support?)");
  }
  return {pub, sec};
}

std::string publicOf(const std::string& secret_key) {
  if (!keyProblem(secret_key).empty()) return {};
  char pub[kKeyTextSize + 1];
  if (zmq_curve_public(pub, secret_key.c_str()) != 0) return {};
  return pub;
}

std::vector<FileProblem> readSecretKeyFile(const std::filesystem::path& file, KeyPair& out) {
  std::vector<FileProblem> problems;
  struct stat st {};
  if (stat(file.c_str(), &st) != 0) {
    problems.push_back({0, std::string("cannot read: ") + strerror(errno)});
    return problems;
  }
  // Fail closed, as ssh does: a secret others can read is no longer a secret.
  if ((st.st_mode & 077) != 0) {
    char mode[8];
    snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    problems.push_back({0, std::string("secret key file is readable by others (mode ") + mode +
                               "); chmod 600 it"});
    return problems;
  }
  std::string text;
  if (!readWhole(file, text, problems)) return problems;
  int found = 0;
  forEachLine(text, [&](int line, std::string_view content) {
    if (++found > 1) {
      problems.push_back({line, "more than one key; a secret key file holds one"});
      return;
    }
    if (auto p = keyProblem(content); !p.empty()) {
      problems.push_back({line, p});
      return;
    }
    out.secret_key = std::string(content);
    out.public_key = publicOf(out.secret_key);
    if (out.public_key.empty()) problems.push_back({line, "not a usable CURVE secret key"});
  });
  if (found == 0) problems.push_back({0, "no key in the file (reporthub keygen writes one)"});
  return problems;
}

std::vector<FileProblem> readAllowedClients(const std::filesystem::path& file,
                                            AllowedClients& out) {
  std::vector<FileProblem> problems;
  std::string text;
  if (!readWhole(file, text, problems)) return problems;
  std::map<std::string, int> node_lines;
  std::map<std::string, int> key_lines;
  forEachLine(text, [&](int line, std::string_view content) {
    const auto space = content.find_first_of(" \t");
    if (space == std::string_view::npos) {
      problems.push_back({line, "expected 'NODE PUBLIC-KEY'"});
      return;
    }
    const std::string node(content.substr(0, space));
    const std::string key(trim(content.substr(space + 1)));
    if (!validNodeName(node)) {
      problems.push_back(
          {line, "'" + node + "' is not a valid node name (use letters, digits, '_', '.', '-')"});
      return;
    }
    if (auto p = keyProblem(key); !p.empty()) {
      problems.push_back({line, p});
      return;
    }
    if (auto [it, fresh] = node_lines.emplace(node, line); !fresh) {
      problems.push_back({line, "node '" + node + "' is listed twice (first at line " +
                                    std::to_string(it->second) + ")"});
      return;
    }
    // One key per node: with a key shared, a peer could claim either name.
    if (auto [it, fresh] = key_lines.emplace(key, line); !fresh) {
      problems.push_back({line, "this key is already listed for node '" + out[key] + "' at line " +
                                    std::to_string(it->second)});
      return;
    }
    out[key] = node;
  });
  return problems;
}

std::string writeKeyFiles(const std::string& prefix, const KeyPair& keys) {
  const std::string key_path = prefix + ".key", pub_path = prefix + ".pub";
  for (const auto& p : {key_path, pub_path}) {
    if (access(p.c_str(), F_OK) == 0) return p + " exists; not overwritten";
  }
  auto writeNew = [](const std::string& path, mode_t mode, const std::string& text) {
    const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (fd < 0) return path + ": " + strerror(errno);
    // The mode argument is filtered by the umask; the secret must be 0600 whatever it is.
    const bool ok = fchmod(fd, mode) == 0 && writeAll(fd, text) == text.size() && fsync(fd) == 0;
    const int err = errno;
    close(fd);
    if (!ok) {
      unlink(path.c_str());
      return path + ": " + strerror(err);
    }
    return std::string();
  };
  const std::string secret_text =
      "# reporthub CURVE secret key. Keep it to this node (mode 0600).\n"
      "# Its public key: " +
      keys.public_key + "\n" + keys.secret_key + "\n";
  if (auto err = writeNew(key_path, 0600, secret_text); !err.empty()) return err;
  if (auto err = writeNew(pub_path, 0644, keys.public_key + "\n"); !err.empty()) {
    unlink(key_path.c_str());
    return err;
  }
  return {};
}

}  // namespace reporthub::curve
