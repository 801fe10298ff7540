// The hub's configuration as typed values, and the loader that validates a YAML file into
// them. Every other component takes these structs; none of them sees YAML.
#pragma once

#include "common/duration.h"
#include "common/report.h"

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
  std::uint64_t rotate_size = 0;  // built-in rotation at this size (0: external, e.g. logrotate)
  int rotate_keep = 5;            // operator.log.1 .. .N kept by built-in rotation
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

// ---- inputs.check (inputs/check/README.md) ----
// What a check measures. Exactly one per check.
struct CommandCheck {  // a monitoring plugin: exit 0 ok, 1 warning, 2 critical, 3 unknown
  std::vector<std::string> argv;  // argv[0] absolute or found in PATH; never a shell
  std::string user;               // run as this user ("" = the hub's user)
  bool operator==(const CommandCheck&) const = default;
};
struct DiskCheck {  // used space of the filesystem holding `path`, in percent
  std::filesystem::path path;
  double warn = 85, crit = 95;
  bool operator==(const DiskCheck&) const = default;
};
struct FileCheck {  // must exist; optionally not older / not larger than the limits
  std::filesystem::path path;
  std::optional<Duration> warn_age, crit_age;         // since last modification
  std::optional<std::uint64_t> warn_size, crit_size;  // bytes
  bool operator==(const FileCheck&) const = default;
};
struct ProcessCheck {  // alive: by pid file, or by name (/proc/PID/comm or argv[0] basename)
  std::filesystem::path pidfile;
  std::string name;
  int min = 1;  // by name: at least this many
  bool operator==(const ProcessCheck&) const = default;
};
struct TcpCheck {  // a TCP connect succeeds within the check's timeout
  std::string host;
  int port = 0;
  bool operator==(const TcpCheck&) const = default;
};
struct QueueCheck {  // number of entries in a directory
  std::filesystem::path path;
  std::uint64_t warn = 0, crit = 0;
  bool operator==(const QueueCheck&) const = default;
};
using CheckProbe =
    std::variant<CommandCheck, DiskCheck, FileCheck, ProcessCheck, TcpCheck, QueueCheck>;

struct Check {
  std::string name;
  CheckProbe probe;
  Duration every = std::chrono::seconds(60);
  Duration timeout = std::chrono::seconds(30);  // never more than `every`
  std::string category;
  bool desk = false;                 // runs only while desk is on
  std::optional<Duration> renotify;  // repeat a non-ok state this often
  bool operator==(const Check&) const = default;
};

struct CheckInput {
  std::vector<Check> checks;
  int concurrency = 8;  // checks running at once
  std::optional<RestartPolicy> restart;
  bool operator==(const CheckInput&) const = default;
};

// ---- inputs.logscan (inputs/logscan/README.md) ----
struct LogRule {
  std::string match;  // PCRE2 pattern, validated (compiled) at load time
  std::string category;
  Severity severity = Severity::warning;
  std::string text;   // template with {0}..{9}; "" = the whole line
  bool cont = false;  // `continue: true`: later rules are tried too
  bool operator==(const LogRule&) const = default;
};
enum class StartAt { beginning, end };
struct LogFile {
  std::filesystem::path path;
  std::vector<LogRule> rules;
  StartAt start_at = StartAt::beginning;  // for a file with no saved offset
  bool operator==(const LogFile&) const = default;
};
struct LogscanInput {
  std::vector<LogFile> files;
  std::uint32_t max_line = 64 * 1024;              // longer lines are truncated (and counted)
  Duration poll = std::chrono::milliseconds(250);  // rotation/appearance checks
  std::optional<RestartPolicy> restart;
  bool operator==(const LogscanInput&) const = default;
};

// ---- inputs.ns_receive (inputs/ns_receive/README.md) ----
// CURVE on the receiving side: this node's secret key, and the client keys it accepts.
struct CurveServer {
  std::filesystem::path secret_key;       // written by `reporthub keygen`
  std::filesystem::path allowed_clients;  // one "NODE PUBLIC-KEY" per line
  bool operator==(const CurveServer&) const = default;
};
struct NsReceiveInput {
  std::string listen;  // tcp://ADDR:PORT; required, there is no default port
  std::optional<CurveServer> curve;
  std::uint32_t max_rate = 0;  // reports per second per peer; 0: bounded by credit only
  std::optional<RestartPolicy> restart;
  bool operator==(const NsReceiveInput&) const = default;
};

// ---- inputs.ds_receive (inputs/ds_receive/README.md) ----
// One mapping rule: every condition given must hold; the first rule that matches wins.
struct SyslogRule {
  std::string app;                     // APP-NAME (RFC 5424) or TAG (RFC 3164), exact
  std::optional<int> facility;         // 0..23
  std::optional<int> syslog_severity;  // 0..7: matches this severity or a more severe one
  std::string msgid;                   // MSGID, exact
  std::string match;                   // PCRE2 pattern searched in MSG
  std::string category;                // the report's category
  std::optional<Severity> severity;    // the report's severity; else mapped from syslog's
  bool operator==(const SyslogRule&) const = default;
};
struct DsReceiveInput {
  std::string listen;                    // tcp://ADDR:PORT; required
  std::string udp;                       // udp://ADDR:PORT; optional
  int max_connections = 256;             // TCP connections at once; more are refused
  std::uint32_t max_message = 8 * 1024;  // bytes; a longer message is skipped and counted
  std::string default_category = "SYSLOG";
  std::vector<SyslogRule> rules;
  std::optional<RestartPolicy> restart;
  bool operator==(const DsReceiveInput&) const = default;
};

struct Inputs {
  std::optional<CheckInput> check;
  std::optional<LogscanInput> logscan;
  std::optional<NsReceiveInput> ns_receive;
  std::optional<DsReceiveInput> ds_receive;
  std::vector<TestProc> testproc;
  bool operator==(const Inputs&) const = default;
};

// How the hub retries an output that answered "retry": `first`, doubling up to `max`; after
// `alert_after` failed tries in a row the operator gets one message.
struct RetryPolicy {
  Duration first = std::chrono::seconds(1);
  Duration max = std::chrono::seconds(60);
  int alert_after = 3;
  bool operator==(const RetryPolicy&) const = default;
};

// ---- outputs.printer (outputs/printer/README.md) ----
struct PrinterOutput {
  std::vector<std::string> command;             // job on its stdin: [lp, -d, ops]
  std::filesystem::path spool;                  // or: one file per job in this directory
  Duration batch = Duration(0);                 // 0: one job per report; else one job per interval
  Duration timeout = std::chrono::seconds(60);  // a command running longer failed
  RetryPolicy retry;
  std::optional<RestartPolicy> restart;
  bool operator==(const PrinterOutput&) const = default;
};

// ---- outputs.desksend (outputs/desksend/README.md) ----
struct SmtpSettings {
  std::string url;     // smtp://host:port or smtps://host:port
  std::string from;    // envelope and header From (default reporthub@<node>)
  std::string domain;  // appended to users without '@'
  enum class Tls { try_, required, never } tls = Tls::try_;  // STARTTLS when offered
  std::string user;
  std::filesystem::path password_file;
  std::filesystem::path ca_file;  // CA certificates for a relay signed by a private CA
  Duration timeout = std::chrono::seconds(30);
  bool operator==(const SmtpSettings&) const = default;
};
struct DesksendOutput {
  std::filesystem::path maildir;  // <maildir>/<user>/{tmp,new,cur}
  std::string from;               // header From (default reporthub@<node>)
  std::optional<SmtpSettings> smtp;
  RetryPolicy retry;
  std::optional<RestartPolicy> restart;
  bool operator==(const DesksendOutput&) const = default;
};

// ---- outputs.ns_send (outputs/ns_send/README.md): one process per node in `nodes` ----
struct NsSendOutput {
  std::filesystem::path secret_key;              // this node's CURVE key as a client
  Duration heartbeat = std::chrono::seconds(1);  // a link silent for 3 of these is lost
  Duration timeout = std::chrono::seconds(10);   // a report unacknowledged this long: retry
  RetryPolicy retry;
  std::optional<RestartPolicy> restart;
  bool operator==(const NsSendOutput&) const = default;
};

// ---- outputs.ds_send (outputs/ds_send/README.md) ----
struct DsSendOutput {
  std::string target;  // tcp://HOST:PORT of the syslog server
  int facility = 16;   // local0
  std::string app_name = "reporthub";
  Duration timeout = std::chrono::seconds(10);  // connect and send
  RetryPolicy retry;
  std::optional<RestartPolicy> restart;
  bool operator==(const DsSendOutput&) const = default;
};

struct Outputs {
  LocalOutput local;  // always present: the operator console
  std::optional<PrinterOutput> printer;
  std::optional<DesksendOutput> desksend;
  NsSendOutput ns_send;  // used when `nodes` has entries
  std::optional<DsSendOutput> ds_send;
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
  std::filesystem::path operator_log;  // outputs.local.file, for hubctl console's replay

  std::filesystem::path lockPath() const { return state_dir / "hub.lock"; }
  std::filesystem::path hubLogPath() const { return state_dir / "hub.log"; }
  std::filesystem::path statusPath() const { return state_dir / "status.json"; }
  std::string childEndpoint() const { return "ipc://" + (run_dir / "hub.sock").string(); }
  std::string controlEndpoint() const { return "ipc://" + (run_dir / "control.sock").string(); }
  std::string consoleEndpoint() const { return "ipc://" + (run_dir / "console.sock").string(); }
  // Held by the hub while DS transport is available; DS processes exit without it.
  std::filesystem::path dsLockPath() const { return state_dir / "ds.lock"; }
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

  // Whether DS transport (syslog in or out) is configured: the hub then holds ds.lock.
  bool hasDs() const { return inputs.ds_receive || outputs.ds_send; }
};

// Destination nodes one hub may have: each gets its own journal channel (outbox).
constexpr std::size_t kMaxNodes = 56;

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

// Why `user` cannot be a mail user ("" if it can). A user names a Maildir directory and,
// for SMTP, a mailbox: 1-255 bytes of letters, digits and !#$%&'*+-=?^_`{|}~.@, at most one
// '@', not starting with '.' (so never "." or ".."), and never '/'.
std::string mailUserProblem(std::string_view user);

// Reads a whole file; throws ConfigError (line 0) if it cannot.
std::string readFile(const std::filesystem::path& path);

}  // namespace reporthub::config
