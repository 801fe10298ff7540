// The hub's configuration as typed values, and the loader that validates a YAML file into
// them. Every other component takes these structs; none of them sees YAML.
#pragma once

#include "common/duration.h"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace reporthub::config {

// One problem found in a config file, printed as FILE:LINE:COL: message (1-based).
struct Problem {
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
  std::string str() const;
};

// Thrown by load() with every problem found, not just the first.
class ConfigError : public std::runtime_error {
 public:
  explicit ConfigError(std::vector<Problem> problems);
  const std::vector<Problem>& problems() const { return problems_; }

 private:
  std::vector<Problem> problems_;
};

struct RestartPolicy {
  int immediate = 3;  // restarts allowed at once inside `window`
  Duration window = std::chrono::minutes(10);
  Duration then_every = std::chrono::minutes(30);  // after that, one try per this interval
  bool operator==(const RestartPolicy&) const = default;
};

enum class Pending { replay, discard };
enum class LogFormat { text, json };

struct LocalOutput {
  std::filesystem::path file;  // operator log (absolute)
  LogFormat format = LogFormat::text;
  std::optional<RestartPolicy> restart;
  bool operator==(const LocalOutput&) const = default;
};

// A child used only by tests: misbehaves on purpose so supervision can be tested for real.
enum class TestMode { healthy, crash, hang, ignore_term, slow_stop, emit };
struct TestProc {
  std::string name;
  TestMode mode = TestMode::healthy;
  Duration delay = std::chrono::milliseconds(0);  // crash after / slow_stop duration
  int count = 0;                                  // emit: reports to send
  std::string category = "TEST";                  // emit: their category
  std::optional<RestartPolicy> restart;
  bool operator==(const TestProc&) const = default;
};

struct Inputs {
  std::vector<TestProc> testproc;
  bool operator==(const Inputs&) const = default;
};

struct Outputs {
  LocalOutput local;  // always present: the operator console
  bool operator==(const Outputs&) const = default;
};

struct Node {
  std::string address;     // tcp://HOST:PORT of the node's ns_receive
  std::string public_key;  // its CURVE public key; empty: the link is not authenticated
  bool operator==(const Node&) const = default;
};

// What a recipient name stands for (DESIGN §2).
struct LocalRecipient {
  bool operator==(const LocalRecipient&) const = default;
};
struct PrinterRecipient {
  bool operator==(const PrinterRecipient&) const = default;
};
struct DsSendRecipient {
  bool operator==(const DsSendRecipient&) const = default;
};
struct MailRecipient {
  std::vector<std::string> users;
  bool operator==(const MailRecipient&) const = default;
};
struct NodeRecipient {
  std::string node;
  std::string recipient;
  bool operator==(const NodeRecipient&) const = default;
};
using Recipient =
    std::variant<LocalRecipient, PrinterRecipient, MailRecipient, NodeRecipient, DsSendRecipient>;

// Where a hub keeps its files and sockets: all a client needs to find it.
struct Location {
  std::filesystem::path file;       // absolute path of the config file
  std::filesystem::path state_dir;  // absolute
  std::filesystem::path run_dir;    // absolute
  std::string node;                 // as written, "" if absent or not a string
  Duration kill_timeout = std::chrono::minutes(5);

  std::filesystem::path lockPath() const { return state_dir / "hub.lock"; }
  std::filesystem::path hubLogPath() const { return state_dir / "hub.log"; }
  std::filesystem::path statusPath() const { return state_dir / "status.json"; }
  std::string childEndpoint() const { return "ipc://" + (run_dir / "hub.sock").string(); }
  std::string controlEndpoint() const { return "ipc://" + (run_dir / "control.sock").string(); }
  std::string consoleEndpoint() const { return "ipc://" + (run_dir / "console.sock").string(); }
};

struct Config : Location {
  Pending pending = Pending::replay;
  bool desk_at_start = true;
  // fdatasync before acknowledging. Off: an acknowledged report survives any process crash
  // but not a power loss or kernel crash (the page cache holds it).
  bool journal_sync = true;
  RestartPolicy restart;
  int max_hops = 8;
  Inputs inputs;
  Outputs outputs;
  std::map<std::string, Node> nodes;
  std::map<std::string, Recipient> recipients;
  // category -> recipient names, in config order; always has "default".
  std::map<std::string, std::vector<std::string>> categories;
};

// Longest ipc socket path the kernel accepts (sun_path holds 108 bytes with the NUL).
constexpr std::size_t kMaxIpcPath = 107;

// Loads and validates `path`. Throws ConfigError listing every problem.
Config load(const std::filesystem::path& path);

// Same, from text already read (reload validates the new text before touching anything).
Config loadFromString(const std::string& text, const std::filesystem::path& path);

// Just where the hub lives (paths, node, kill_timeout), read leniently: the hub takes its
// lock with it before full validation (DESIGN §1: nothing happens before the lock is held),
// and hubctl finds a running hub even while its config file is being edited. Keys other
// than paths are taken if valid and defaulted otherwise. Throws ConfigError if the file
// cannot be parsed or `paths` is unusable.
Location locate(const std::string& text, const std::filesystem::path& path);

// Reads a whole file; throws ConfigError (line 0) if it cannot.
std::string readFile(const std::filesystem::path& path);

}  // namespace reporthub::config
