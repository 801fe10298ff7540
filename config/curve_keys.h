// Load-time checks of the CURVE key files a config names (inputs.ns_receive.curve,
// outputs.ns_send.secret_key) and of pinned node keys: a bad key is a config error at the
// key's position, naming the file's line, not a link that fails later. Internal to config/.
#pragma once

#include "common/curve.h"
#include "config/reader.h"

namespace reporthub::config::detail {

inline void reportKeyProblems(const Section& s, std::string_view key, const fs::path& file,
                              const std::vector<curve::FileProblem>& problems) {
  const auto v = s.get(key);
  for (const auto& p : problems) {
    s.ctx().add(v ? v->mark : s.mark(), s.path() + "." + std::string(key) + ": " + p.str(file));
  }
}

inline void checkSecretKeyFile(const Section& s, std::string_view key, const fs::path& file) {
  if (file.empty()) return;
  curve::KeyPair keys;
  reportKeyProblems(s, key, file, curve::readSecretKeyFile(file, keys));
}

inline void checkAllowedClients(const Section& s, std::string_view key, const fs::path& file) {
  if (file.empty()) return;
  curve::AllowedClients allowed;
  auto problems = curve::readAllowedClients(file, allowed);
  if (problems.empty() && allowed.empty()) {
    problems.push_back({0, "no clients listed: every link would be refused"});
  }
  reportKeyProblems(s, key, file, problems);
}

}  // namespace reporthub::config::detail
