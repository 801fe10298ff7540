// CURVE keys for hub-to-hub links (DESIGN §3): generating a key pair, reading a secret key
// file and a file of allowed client keys, and checking Z85 key text. Used by config loading
// (to fail at load, with positions), by `reporthub keygen`, ns_receive and ns_send.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace reporthub::curve {

// A key in ZeroMQ's Z85 text form is 40 characters (32 bytes of key).
constexpr std::size_t kKeyTextSize = 40;

struct KeyPair {
  std::string public_key;  // Z85
  std::string secret_key;  // Z85
};

// Whether `s` is a valid node name (letters, digits, '_', '.', '-'), the config's rule: an
// allowed client is named by its node, and ns_receive checks the name a link claims.
bool validNodeName(std::string_view s);

// Why `text` is not a Z85 CURVE key ("" if it is one).
std::string keyProblem(std::string_view text);

// A new key pair from the system's random source. Throws std::runtime_error if libzmq was
// built without CURVE.
KeyPair generate();

// The public key that belongs to a Z85 secret key; "" if the secret key is not valid.
std::string publicOf(const std::string& secret_key);

// One problem in a key file, with its 1-based line (0: the file as a whole).
struct FileProblem {
  int line = 0;
  std::string message;
  std::string str(const std::filesystem::path& file) const;
};

// Reads a secret key file as `reporthub keygen` writes it: '#' comments and blank lines, and
// one line holding the Z85 secret key. Fills `out` (the public key derived) and returns the
// problems; the file must not be readable by group or others.
std::vector<FileProblem> readSecretKeyFile(const std::filesystem::path& file, KeyPair& out);

// Allowed clients of a receiver: public key (Z85) -> node name.
using AllowedClients = std::map<std::string, std::string>;

// Reads lines "NODE PUBLIC-KEY" ('#' comments and blank lines allowed). A node or key listed
// twice, a bad node name or a bad key is a problem with its line.
std::vector<FileProblem> readAllowedClients(const std::filesystem::path& file, AllowedClients& out);

// Writes PREFIX.key (mode 0600, the secret key with a comment naming the public one) and
// PREFIX.pub (the public key). Never overwrites: returns "" or why nothing was written.
std::string writeKeyFiles(const std::string& prefix, const KeyPair& keys);

}  // namespace reporthub::curve
