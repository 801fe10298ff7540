// Loads the hub's YAML config into the typed values of config.h and validates it. Every
// problem is collected with its line and column; a small Section reader carries the dotted
// key path ("outputs.local") so each check below is one line and names where it applies.
#include "config/config.h"

#include "common/curve.h"
#include "common/file_io.h"
#include "config/reader.h"

#include <yaml-cpp/yaml.h>

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <climits>
#include <span>
#include <string_view>
#include <system_error>
#include <utility>

namespace reporthub::config {

namespace fs = std::filesystem;
using namespace detail;

std::string Problem::str() const {
  if (line == 0) return file + ": " + message;
  return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

std::string joinLines(const std::vector<Problem>& problems) {
  std::string out;
  for (const Problem& p : problems) {
    if (!out.empty()) out += '\n';
    out += p.str();
  }
  return out.empty() ? "invalid config" : out;
}

}  // namespace

ConfigError::ConfigError(std::vector<Problem> problems)
    : std::runtime_error(joinLines(problems)), problems_(std::move(problems)) {}

namespace {

// The inputs and outputs the config may name (their registries run them).
constexpr std::string_view kInputs[] = {"check", "logscan", "ns_receive", "ds_receive", "testproc"};
constexpr std::string_view kOutputs[] = {"local", "printer", "desksend", "ns_send", "ds_send"};

constexpr std::pair<std::string_view, Pending> kPendingNames[] = {{"replay", Pending::replay},
                                                                  {"discard", Pending::discard}};
fs::path absoluteFile(const fs::path& path) {
  std::error_code ec;
  fs::path abs = fs::absolute(path, ec);
  return ec ? path : abs.lexically_normal();
}

// Parses the text into one document; a syntax error is the only problem worth reporting,
// since nothing after it can be trusted.
YAML::Node parseDocument(Context& ctx, const std::string& text) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(text);
  } catch (const YAML::Exception& e) {
    ctx.add(e.mark, "YAML syntax error: " + e.msg);
    ctx.raise();
  }
  if (docs.size() > 1) {
    ctx.add(docs[1].Mark(), "only one YAML document is allowed in a config file");
    ctx.raise();
  }
  if (docs.empty()) return YAML::Node(YAML::NodeType::Null);
  if (!docs[0].IsMap() && !docs[0].IsNull()) {
    ctx.add(docs[0].Mark(),
            "the config must be a mapping of keys (node, paths, ...), got " + describe(docs[0]));
    ctx.raise();
  }
  return docs[0];
}

fs::path defaultStateDir(const fs::path& dir) {
  return resolve(dir, "var");
}

// Keys of the inputs or outputs section: unknown names list the known ones.
void checkPlugins(const Section& s, std::span<const std::string_view> known,
                  std::string_view kind) {
  for (const auto& e : s.entries()) {
    if (std::find(known.begin(), known.end(), e.key) == known.end()) {
      s.ctx().add(e.key_mark, "unknown " + std::string(kind) + " '" + e.key +
                                  "' (known: " + joinNames(known) + ")");
    }
  }
}

void readNodes(const Section& nodes, Config& cfg) {
  Context& ctx = nodes.ctx();
  if (nodes.entries().size() > kMaxNodes) {
    ctx.add(nodes.mark(), "nodes: " + std::to_string(nodes.entries().size()) +
                              " nodes, more than the " + std::to_string(kMaxNodes) +
                              " one hub can forward to (relay through a regional hub)");
  }
  for (const auto& e : nodes.entries()) {
    if (!isName(e.key)) {
      ctx.add(e.key_mark, "nodes: '" + e.key +
                              "' is not a valid node name (use letters, digits, '_', '.', '-')");
    }
    const Section s(ctx, e.value);
    s.allowOnly({"address", "public_key"});
    Node node;
    s.text("address", node.address, Need::required);
    s.text("public_key", node.public_key);
    if (auto why = curve::keyProblem(node.public_key); !node.public_key.empty() && !why.empty()) {
      ctx.add(s.get("public_key")->mark, s.path() + ".public_key: " + why);
      node.public_key.clear();
    }
    if (!node.address.empty() && !isEndpoint(node.address, "tcp://")) {
      ctx.add(s.get("address")->mark,
              s.path() + ".address: expected tcp://HOST:PORT, got '" + node.address + "'");
    }
    cfg.nodes.emplace(e.key, std::move(node));
  }
}

// The output a recipient is delivered by.
std::string_view outputOf(const Recipient& r) {
  struct Visitor {
    std::string_view operator()(const LocalRecipient&) const { return "local"; }
    std::string_view operator()(const PrinterRecipient&) const { return "printer"; }
    std::string_view operator()(const MailRecipient&) const { return "desksend"; }
    std::string_view operator()(const NodeRecipient&) const { return "ns_send"; }
    std::string_view operator()(const DsSendRecipient&) const { return "ds_send"; }
  };
  return std::visit(Visitor{}, r);
}

std::optional<MailRecipient> readMail(Context& ctx, const Value& v, const Config& cfg) {
  if (!v.node.IsSequence()) {
    wrongType(ctx, v, "a sequence of user names");
    return std::nullopt;
  }
  if (v.node.size() == 0) {
    ctx.add(v.mark, v.path + ": needs at least one user");
    return std::nullopt;
  }
  MailRecipient mail;
  bool ok = true;
  for (std::size_t i = 0; i < v.node.size(); ++i) {
    const YAML::Node item = v.node[i];
    const Value user{item, item.Mark(), v.path + "[" + std::to_string(i) + "]"};
    auto name = readText(ctx, user);
    const std::string problem = name ? mailUserProblem(*name) : "";
    if (!problem.empty()) {
      ctx.add(user.mark, user.path + ": '" + *name + "': " + problem);
      name.reset();
    }
    const auto& smtp = cfg.outputs.desksend ? cfg.outputs.desksend->smtp : std::nullopt;
    if (name && smtp && smtp->domain.empty() && name->find('@') == std::string::npos) {
      ctx.add(user.mark, user.path + ": '" + *name +
                             "' is not an address and outputs.desksend.smtp.domain is not set "
                             "(write USER@DOMAIN or set the domain)");
    }
    if (!name) {
      ok = false;
    } else if (std::find(mail.users.begin(), mail.users.end(), *name) != mail.users.end()) {
      ctx.add(user.mark, user.path + ": user '" + *name + "' is listed twice");
      ok = false;
    } else {
      mail.users.push_back(*name);
    }
  }
  return ok ? std::optional(std::move(mail)) : std::nullopt;
}

std::optional<NodeRecipient> readNodeRecipient(const Section& s, const Config& cfg) {
  NodeRecipient r;
  s.name("node", r.node, "node name", Need::required);
  s.name("recipient", r.recipient, "recipient name", Need::required);
  if (r.node.empty() || r.recipient.empty()) return std::nullopt;
  // Still returned when the node is wrong, so the caller also says whether this build could
  // forward at all; the operator learns both at once.
  const Value node = *s.get("node");
  if (r.node == cfg.node) {
    s.ctx().add(node.mark, node.path + ": '" + r.node +
                               "' is this hub's own node; name a local recipient instead");
  } else if (!cfg.nodes.contains(r.node)) {
    std::vector<std::string> defined;
    for (const auto& entry : cfg.nodes) {
      defined.push_back(entry.first);
    }
    s.ctx().add(node.mark, node.path + ": unknown node '" + r.node +
                               "' (defined in nodes: " + joinNames(defined) + ")");
  }
  return r;
}

constexpr std::string_view kRecipientForms =
    "local, printer, ds_send, {mail: [USER, ...]}, {node: N, recipient: R}";

std::optional<Recipient> readRecipient(Context& ctx, const Value& v, const Config& cfg) {
  if (v.node.IsScalar()) {
    const std::string& kind = v.node.Scalar();
    if (kind == "local") return LocalRecipient{};
    if (kind == "printer") return PrinterRecipient{};
    if (kind == "ds_send") return DsSendRecipient{};
    ctx.add(v.mark,
            v.path + ": bad value '" + kind + "' (valid: " + std::string(kRecipientForms) + ")");
    return std::nullopt;
  }
  if (!v.node.IsMap()) {
    wrongType(ctx, v, "one of " + std::string(kRecipientForms));
    return std::nullopt;
  }
  const Section s(ctx, v);
  s.allowOnly({"mail", "node", "recipient"});
  const bool mail = s.find("mail") != nullptr;
  const bool node = s.find("node") || s.find("recipient");
  if (mail && node) {
    ctx.add(v.mark, v.path + ": use either mail or node/recipient, not both");
    return std::nullopt;
  }
  if (mail) return readMail(ctx, *s.get("mail"), cfg);
  if (node) return readNodeRecipient(s, cfg);
  if (s.entries().empty()) {
    ctx.add(v.mark, v.path + ": empty; expected {mail: [USER, ...]} or {node: N, recipient: R}");
  }
  return std::nullopt;
}

// Fills cfg.recipients; `order` gets every name as written (valid or not), so categories can
// tell an undefined name from one whose definition had its own problem.
void readRecipients(const Section& recipients, Config& cfg, std::vector<std::string>& order) {
  Context& ctx = recipients.ctx();
  for (const auto& e : recipients.entries()) {
    order.push_back(e.key);
    if (!isName(e.key)) {
      ctx.add(e.key_mark,
              "recipients: '" + e.key +
                  "' is not a valid recipient name (use letters, digits, '_', '.', '-')");
    }
    auto r = readRecipient(ctx, e.value, cfg);
    if (!r) continue;
    const std::string_view output = outputOf(*r);
    if ((output == "printer" && !cfg.outputs.printer) ||
        (output == "desksend" && !cfg.outputs.desksend) ||
        (output == "ds_send" && !cfg.outputs.ds_send)) {
      ctx.add(e.value.mark, "recipient '" + e.key + "' needs outputs." + std::string(output) +
                                ", which is not configured");
    }
    cfg.recipients.emplace(e.key, std::move(*r));
  }
}

void readCategories(const Section& categories, const std::vector<std::string>& declared,
                    Config& cfg) {
  Context& ctx = categories.ctx();
  std::vector<std::string> sorted = declared;
  std::sort(sorted.begin(), sorted.end());
  for (const auto& e : categories.entries()) {
    const Value& list = e.value;
    if (!list.node.IsSequence()) {
      wrongType(ctx, list, "a sequence of recipient names");
      continue;
    }
    if (list.node.size() == 0) {
      ctx.add(list.mark, "category '" + e.key + "': no recipients; its reports would reach nobody");
      continue;
    }
    std::vector<std::string> names;
    for (std::size_t i = 0; i < list.node.size(); ++i) {
      const YAML::Node item = list.node[i];
      auto name = readText(ctx, {item, item.Mark(), list.path + "[" + std::to_string(i) + "]"});
      if (!name) continue;
      if (!std::binary_search(sorted.begin(), sorted.end(), *name)) {
        ctx.add(item.Mark(), "category '" + e.key + "': unknown recipient '" + *name +
                                 "' (defined: " + joinNames(sorted) + ")");
      } else if (std::find(names.begin(), names.end(), *name) != names.end()) {
        ctx.add(item.Mark(), "category '" + e.key + "': recipient '" + *name + "' is listed twice");
      } else {
        names.push_back(*name);
      }
    }
    cfg.categories.emplace(e.key, std::move(names));
  }
}

// Without `default`, unknown categories go to every local recipient: the operator must see
// them somewhere (DESIGN §2).
void fallBackToLocal(const Section& top, const Section& categories,
                     const std::vector<std::string>& declared, Config& cfg) {
  if (categories.find("default")) return;
  std::vector<std::string> locals;
  for (const std::string& name : declared) {
    auto it = cfg.recipients.find(name);
    if (it != cfg.recipients.end() && std::holds_alternative<LocalRecipient>(it->second)) {
      locals.push_back(name);
    }
  }
  if (locals.empty()) {
    const auto* key = top.find("categories");
    top.ctx().add(key ? key->key_mark : YAML::Mark(),
                  "no 'default' category and no local recipient to fall back on");
    return;
  }
  cfg.categories["default"] = std::move(locals);
}

// The socket paths must fit sun_path; checked here so the hub fails at load, not at bind.
void checkRunDir(const Section& paths, const Config& cfg) {
  const std::string longest = (cfg.run_dir / "control.sock").string();
  if (longest.size() <= kMaxIpcPath) return;
  auto v = paths.get("run_dir");
  paths.ctx().add(v ? v->mark : YAML::Mark(),
                  "paths.run_dir: socket path '" + longest + "' is " +
                      std::to_string(longest.size()) + " bytes, longer than the " +
                      std::to_string(kMaxIpcPath) + " the kernel allows; use a shorter run_dir");
}

Value rootValue(const YAML::Node& root) {
  return {root, root.Mark().is_null() ? YAML::Mark() : root.Mark(), ""};
}

}  // namespace

Config loadFromString(const std::string& text, const fs::path& path) {
  Context ctx(path.string());
  Config cfg;
  cfg.file = absoluteFile(path);
  const fs::path dir = cfg.file.parent_path();
  const Section top(ctx, rootValue(parseDocument(ctx, text)));
  top.allowOnly({"node", "paths", "shutdown", "startup", "desk", "journal", "restart", "max_hops",
                 "inputs", "outputs", "nodes", "recipients", "categories"});

  top.name("node", cfg.node, "node name", Need::required);

  const Section paths = top.section("paths");
  paths.allowOnly({"state_dir", "run_dir"});
  cfg.state_dir = defaultStateDir(dir);
  cfg.run_dir = resolve(dir, "run");
  paths.path("state_dir", cfg.state_dir, dir);
  paths.path("run_dir", cfg.run_dir, dir);
  checkRunDir(paths, cfg);

  const Section shutdown = top.section("shutdown");
  shutdown.allowOnly({"kill_timeout"});
  shutdown.duration("kill_timeout", cfg.kill_timeout, Zero::refused);

  const Section startup = top.section("startup");
  startup.allowOnly({"pending"});
  startup.choice("pending", cfg.pending, kPendingNames);

  const Section desk = top.section("desk");
  desk.allowOnly({"at_start"});
  desk.choice("at_start", cfg.desk_at_start, kSwitchNames);

  const Section journal = top.section("journal");
  journal.allowOnly({"sync"});
  journal.choice("sync", cfg.journal_sync, kSwitchNames);

  // Before inputs and outputs: their own restart policies start from this one.
  cfg.restart = readRestart(top.section("restart"), cfg.restart);
  top.integer("max_hops", cfg.max_hops, 1, 64);

  const Section inputs = top.section("inputs");
  checkPlugins(inputs, kInputs, "input");
  readInputs(inputs, dir, cfg);
  const Section outputs = top.section("outputs");
  checkPlugins(outputs, kOutputs, "output");
  readOutputs(outputs, dir, cfg);
  cfg.operator_log = cfg.outputs.local.file;
  readNodes(top.section("nodes"), cfg);
  // Fail closed: a pinned node key means CURVE, and CURVE needs this node's own key too.
  const bool pinned = std::any_of(cfg.nodes.begin(), cfg.nodes.end(),
                                  [](const auto& n) { return !n.second.public_key.empty(); });
  if (pinned && cfg.outputs.ns_send.secret_key.empty()) {
    const auto* key = top.find("nodes");
    ctx.add(key ? key->key_mark : YAML::Mark(),
            "nodes: a node has a public_key, so outputs.ns_send.secret_key must name this "
            "node's key file (reporthub keygen writes one)");
  }

  std::vector<std::string> declared;
  if (top.find("recipients")) {
    readRecipients(top.section("recipients"), cfg, declared);
  } else {
    // The smallest useful config (just `node`) still shows every report to the operator.
    cfg.recipients.emplace("operator", LocalRecipient{});
    declared.push_back("operator");
  }
  const Section categories = top.section("categories");
  readCategories(categories, declared, cfg);
  fallBackToLocal(top, categories, declared, cfg);

  if (!ctx.ok()) ctx.raise();
  return cfg;
}

Config load(const fs::path& path) {
  return loadFromString(readFile(path), path);
}

Location locate(const std::string& text, const fs::path& path) {
  Context ctx(path.string());
  Location loc;
  loc.file = absoluteFile(path);
  const fs::path dir = loc.file.parent_path();
  const YAML::Node root = parseDocument(ctx, text);
  const Section top(ctx, rootValue(root));
  // Only the paths must be right; other keys wait for the full load. Duplicate keys are
  // refused here too, since they make even this read ambiguous.
  loc.state_dir = defaultStateDir(dir);
  loc.run_dir = resolve(dir, "run");
  const Section paths = top.section("paths");
  paths.path("state_dir", loc.state_dir, dir);
  paths.path("run_dir", loc.run_dir, dir);
  if (!ctx.ok()) ctx.raise();
  // The rest is a best effort: a wrong value here keeps its default, silently.
  loc.operator_log = resolve(dir, "var/operator.log");
  if (root.IsMap()) {
    const auto outputs = root["outputs"];
    if (outputs && outputs.IsMap() && outputs["local"] && outputs["local"].IsMap()) {
      const auto file = outputs["local"]["file"];
      if (file && file.IsScalar() && !file.Scalar().empty())
        loc.operator_log = resolve(dir, file.Scalar());
    }
    if (const auto node = root["node"]; node && node.IsScalar()) loc.node = node.Scalar();
    const auto shutdown = root["shutdown"];
    if (shutdown && shutdown.IsMap() && shutdown["kill_timeout"] &&
        shutdown["kill_timeout"].IsScalar()) {
      if (auto d = parseDuration(shutdown["kill_timeout"].Scalar())) loc.kill_timeout = *d;
    }
  }
  return loc;
}

namespace {

constexpr std::size_t kMaxMailUser = 255;  // NAME_MAX: the user names a directory

bool isMailAtext(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != std::string_view::npos;
}

[[noreturn]] void cannotRead(const fs::path& path, int err) {
  throw ConfigError(
      {Problem{path.string(), 0, 0, "cannot read: " + std::generic_category().message(err)}});
}

}  // namespace

std::string mailUserProblem(std::string_view user) {
  if (user.empty()) return "a mail user name must not be empty";
  if (user.size() > kMaxMailUser) return "a mail user name is at most 255 bytes";
  if (user.front() == '.') return "a mail user name must not start with '.'";
  std::size_t ats = 0;
  for (char c : user) {
    if (c == '/') return "a mail user name must not contain '/'";
    if (c == '@') {
      ++ats;
    } else if (!isMailAtext(c) && c != '.') {
      return "a mail user name may hold only letters, digits and !#$%&'*+-=?^_`{|}~.@";
    }
  }
  if (ats > 1) return "a mail user name holds at most one '@'";
  if (user.back() == '@' || (ats == 1 && user.front() == '@')) {
    return "a mail user name with '@' needs text on both sides";
  }
  return {};
}

std::string readFile(const fs::path& path) {
  try {
    return readFileFrom(path);
  } catch (const std::system_error& e) {
    cannotRead(path, e.code().value());
  }
}

}  // namespace reporthub::config
