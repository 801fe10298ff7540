// The YAML reading machinery the config loader is built from: problems collected with their
// position (Context), values with the dotted path that names them (Value), mappings that
// know their allowed keys (Section), and typed scalar readers. Internal to config/.
#pragma once

#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace reporthub::config::detail {

namespace fs = std::filesystem;

template <typename Range>
std::string joinNames(const Range& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ", ";
    out += n;
  }
  return out.empty() ? "none" : out;
}

// YAML 1.1 reads on/off as booleans; yaml-cpp keeps the text, so both spellings are taken.
constexpr std::pair<std::string_view, bool> kSwitchNames[] = {
    {"on", true}, {"off", false}, {"true", true}, {"false", false}};

// Node names, user names and recipient names end up in file names, Maildir paths and
// other nodes' configs, so they are kept to characters that need no quoting anywhere.
inline bool isName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

// Collects the problems of one file, in any order; they are sorted by position when thrown.
// SCHEME://HOST:PORT with an explicit port: there is no default port (DESIGN §3).
inline bool isEndpoint(std::string_view s, std::string_view scheme) {
  if (!s.starts_with(scheme)) return false;
  const auto colon = s.rfind(':');
  if (colon == std::string_view::npos || colon <= scheme.size()) return false;
  const std::string_view port = s.substr(colon + 1);
  int n = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
  return ec == std::errc() && end == port.data() + port.size() && n > 0 && n <= 65535;
}

class Context {
 public:
  explicit Context(std::string file) : file_(std::move(file)) {}

  void add(const YAML::Mark& at, std::string message) {
    // A null mark (a value yaml-cpp made up) is reported at the file start.
    const bool known = at.line >= 0 && at.column >= 0;
    problems_.push_back(
        {file_, known ? at.line + 1 : 1, known ? at.column + 1 : 1, std::move(message)});
  }
  bool ok() const { return problems_.empty(); }

  [[noreturn]] void raise() {
    std::stable_sort(problems_.begin(), problems_.end(), [](const Problem& a, const Problem& b) {
      return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    throw ConfigError(std::move(problems_));
  }

 private:
  std::string file_;
  std::vector<Problem> problems_;
};

// One value in the document and the dotted path that names it in messages.
struct Value {
  YAML::Node node;
  YAML::Mark mark;
  std::string path;
};

inline std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a mapping";
    case YAML::NodeType::Sequence:
      return "a sequence";
    case YAML::NodeType::Scalar:
      return "'" + n.Scalar() + "'";
    default:
      return "nothing";
  }
}

inline void wrongType(Context& ctx, const Value& v, std::string_view expected) {
  ctx.add(v.mark, v.path + ": expected " + std::string(expected) + ", got " + describe(v.node));
}

// Scalar readers. Each returns nullopt after recording why the value was refused.

inline std::optional<std::string> readText(Context& ctx, const Value& v) {
  if (!v.node.IsScalar()) {
    wrongType(ctx, v, "a string");
    return std::nullopt;
  }
  if (v.node.Scalar().empty()) {
    ctx.add(v.mark, v.path + ": must not be empty");
    return std::nullopt;
  }
  return v.node.Scalar();
}

inline std::optional<std::string> readName(Context& ctx, const Value& v, std::string_view what) {
  auto text = readText(ctx, v);
  if (text && !isName(*text)) {
    ctx.add(v.mark, v.path + ": '" + *text + "' is not a valid " + std::string(what) +
                        " (use letters, digits, '_', '.', '-')");
    return std::nullopt;
  }
  return text;
}

inline std::optional<int> readInt(Context& ctx, const Value& v, int min, int max) {
  if (!v.node.IsScalar()) {
    wrongType(ctx, v, "an integer");
    return std::nullopt;
  }
  const std::string& s = v.node.Scalar();
  long long n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) {
    wrongType(ctx, v, "an integer");
    return std::nullopt;
  }
  if (n < min || n > max) {
    const std::string range = max == INT_MAX ? "at least " + std::to_string(min)
                                             : std::to_string(min) + ".." + std::to_string(max);
    ctx.add(v.mark, v.path + ": " + s + " is out of range (" + range + ")");
    return std::nullopt;
  }
  return static_cast<int>(n);
}

enum class Zero { allowed, refused };

inline std::optional<Duration> readDuration(Context& ctx, const Value& v, Zero zero) {
  if (!v.node.IsScalar()) {
    wrongType(ctx, v, "a duration");
    return std::nullopt;
  }
  auto d = parseDuration(v.node.Scalar());
  if (!d) {
    ctx.add(v.mark,
            v.path + ": bad duration '" + v.node.Scalar() + "' (use e.g. 500ms, 30s, 5m, 1h)");
    return std::nullopt;
  }
  if (zero == Zero::refused && d->count() == 0) {
    ctx.add(v.mark, v.path + ": must be greater than 0");
    return std::nullopt;
  }
  return d;
}

template <typename E, std::size_t N>
inline std::optional<E> readChoice(Context& ctx, const Value& v,
                                   const std::pair<std::string_view, E> (&table)[N]) {
  if (!v.node.IsScalar()) {
    wrongType(ctx, v, "a string");
    return std::nullopt;
  }
  std::vector<std::string_view> names;
  for (const auto& [name, value] : table) {
    if (name == v.node.Scalar()) return value;
    names.push_back(name);
  }
  ctx.add(v.mark,
          v.path + ": bad value '" + v.node.Scalar() + "' (valid: " + joinNames(names) + ")");
  return std::nullopt;
}

// Absolute and lexically normal; a trailing slash is dropped so "run/" equals "run".
inline fs::path resolve(const fs::path& dir, const fs::path& p) {
  fs::path out = (dir / p).lexically_normal();
  if (!out.has_filename() && out.has_relative_path()) out = out.parent_path();
  return out;
}

inline std::optional<fs::path> readPath(Context& ctx, const Value& v, const fs::path& dir) {
  auto text = readText(ctx, v);
  if (!text) return std::nullopt;
  return resolve(dir, *text);
}

inline std::optional<bool> readSwitch(Context& ctx, const Value& v) {
  return readChoice(ctx, v, kSwitchNames);
}

// Byte sizes: 4096, 64KiB, 10MB. KB/MB/GB are powers of 1000, KiB/MiB/GiB of 1024.
inline std::optional<std::uint64_t> readSize(Context& ctx, const Value& v) {
  if (!v.node.IsScalar()) {
    wrongType(ctx, v, "a size");
    return std::nullopt;
  }
  const std::string& s = v.node.Scalar();
  std::uint64_t n = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
  const std::string_view unit(end, s.data() + s.size() - end);
  constexpr std::pair<std::string_view, std::uint64_t> kUnits[] = {{"", 1},
                                                                   {"B", 1},
                                                                   {"KB", 1000},
                                                                   {"MB", 1000'000},
                                                                   {"GB", 1000'000'000},
                                                                   {"KiB", 1ull << 10},
                                                                   {"MiB", 1ull << 20},
                                                                   {"GiB", 1ull << 30}};
  if (ec == std::errc() && end != s.data()) {
    for (const auto& [name, factor] : kUnits) {
      if (unit == name && n <= UINT64_MAX / factor) return n * factor;
    }
  }
  ctx.add(v.mark, v.path + ": bad size '" + s + "' (use e.g. 4096, 64KiB, 10MB, 1GiB)");
  return std::nullopt;
}

// A percentage, "85%" or 85, in 0..100.
inline std::optional<double> readPercent(Context& ctx, const Value& v) {
  if (!v.node.IsScalar()) {
    wrongType(ctx, v, "a percentage");
    return std::nullopt;
  }
  std::string_view s = v.node.Scalar();
  if (s.ends_with('%')) s.remove_suffix(1);
  double d = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || d < 0 || d > 100) {
    ctx.add(v.mark, v.path + ": bad percentage '" + v.node.Scalar() + "' (use 0% to 100%)");
    return std::nullopt;
  }
  return d;
}

// A non-empty sequence of non-empty strings (an argv, a command).
inline std::optional<std::vector<std::string>> readStrings(Context& ctx, const Value& v) {
  if (!v.node.IsSequence() || v.node.size() == 0) {
    wrongType(ctx, v, "a non-empty sequence of strings");
    return std::nullopt;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.node.size(); ++i) {
    const YAML::Node item = v.node[i];
    auto text = readText(ctx, {item, item.Mark(), v.path + "[" + std::to_string(i) + "]"});
    if (!text) return std::nullopt;
    out.push_back(std::move(*text));
  }
  return out;
}

// A mapping under a dotted path. Absent or empty ("key:" with nothing after it) reads as an
// empty mapping, so optional sections need no special case; any other type is a problem.
class Section {
 public:
  struct Entry {
    std::string key;
    YAML::Mark key_mark;
    Value value;
  };

  Section(Context& ctx, const Value& v) : ctx_(ctx), path_(v.path), mark_(v.mark) {
    if (!v.node.IsDefined() || v.node.IsNull()) return;
    if (!v.node.IsMap()) {
      wrongType(ctx, v, "a mapping");
      return;
    }
    // Iterating yields a temporary pair, so key and value are copied (they are handles).
    for (const auto& pair : v.node) {
      const YAML::Node key = pair.first;
      if (!key.IsScalar()) {
        ctx.add(key.Mark(), "expected a string key" + where() + ", got " + describe(key));
        continue;
      }
      if (const Entry* first = find(key.Scalar())) {
        ctx.add(key.Mark(), "duplicate key '" + key.Scalar() + "'" + where() + " (first at line " +
                                std::to_string(first->key_mark.line + 1) + ")");
        continue;
      }
      // yaml-cpp marks an empty value at the start of the next line; its key is clearer.
      const YAML::Node value = pair.second;
      const YAML::Mark at = value.IsNull() ? key.Mark() : value.Mark();
      entries_.push_back({key.Scalar(), key.Mark(), {value, at, child(key.Scalar())}});
    }
  }

  Context& ctx() const { return ctx_; }
  const std::string& path() const { return path_; }
  const YAML::Mark& mark() const { return mark_; }
  const std::vector<Entry>& entries() const { return entries_; }

  // Unknown keys are reported at the key itself, with the keys that are known.
  void allowOnly(std::initializer_list<std::string_view> known) const {
    for (const Entry& e : entries_) {
      if (std::find(known.begin(), known.end(), e.key) != known.end()) continue;
      ctx_.add(e.key_mark,
               "unknown key '" + e.key + "'" + where() + " (known: " + joinNames(known) + ")");
    }
  }

  const Entry* find(std::string_view key) const {
    for (const Entry& e : entries_) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }

  std::optional<Value> get(std::string_view key) const {
    if (const Entry* e = find(key)) return e->value;
    return std::nullopt;
  }

  std::optional<Value> require(std::string_view key) const {
    auto v = get(key);
    if (v) return v;
    ctx_.add(mark_, "missing required key '" + std::string(key) + "'" + where());
    return v;
  }

  // A nested section; if absent it is empty and reports at this section's position. Call
  // once per key: building a section reports its problems.
  Section section(std::string_view key) const {
    if (auto v = get(key)) return Section(ctx_, *v);
    return Section(ctx_, Value{YAML::Node(), mark_, child(key)});
  }

  // Typed fields: `out` is set only when the key is present and its value valid, so it keeps
  // its default otherwise.
  enum class Need { optional, required };

  void text(std::string_view key, std::string& out, Need need = Need::optional) const {
    field(key, out, need, [&](const Value& v) { return readText(ctx_, v); });
  }
  void name(std::string_view key, std::string& out, std::string_view what,
            Need need = Need::optional) const {
    field(key, out, need, [&](const Value& v) { return readName(ctx_, v, what); });
  }
  void integer(std::string_view key, int& out, int min, int max) const {
    field(key, out, Need::optional, [&](const Value& v) { return readInt(ctx_, v, min, max); });
  }
  void duration(std::string_view key, Duration& out, Zero zero) const {
    field(key, out, Need::optional, [&](const Value& v) { return readDuration(ctx_, v, zero); });
  }
  template <typename E, std::size_t N>
  void choice(std::string_view key, E& out, const std::pair<std::string_view, E> (&table)[N],
              Need need = Need::optional) const {
    field(key, out, need, [&](const Value& v) { return readChoice(ctx_, v, table); });
  }
  void path(std::string_view key, fs::path& out, const fs::path& dir,
            Need need = Need::optional) const {
    field(key, out, need, [&](const Value& v) { return readPath(ctx_, v, dir); });
  }
  void flag(std::string_view key, bool& out) const {
    field(key, out, Need::optional, [&](const Value& v) { return readSwitch(ctx_, v); });
  }
  template <typename T>
  void size(std::string_view key, T& out) const {
    field(key, out, Need::optional, [&](const Value& v) { return readSize(ctx_, v); });
  }
  void percent(std::string_view key, double& out) const {
    field(key, out, Need::optional, [&](const Value& v) { return readPercent(ctx_, v); });
  }
  void strings(std::string_view key, std::vector<std::string>& out,
               Need need = Need::optional) const {
    field(key, out, need, [&](const Value& v) { return readStrings(ctx_, v); });
  }
  // Optional values that stay empty when absent.
  void duration(std::string_view key, std::optional<Duration>& out, Zero zero) const {
    if (auto v = get(key)) out = readDuration(ctx_, *v, zero);
  }
  template <typename T>
  void size(std::string_view key, std::optional<T>& out) const {
    if (auto v = get(key)) out = readSize(ctx_, *v);
  }

 private:
  std::string where() const { return path_.empty() ? "" : " in " + path_; }
  std::string child(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }

  template <typename T, typename Read>
  void field(std::string_view key, T& out, Need need, Read read) const {
    auto v = need == Need::required ? require(key) : get(key);
    if (!v) return;
    if (auto parsed = read(*v)) out = std::move(*parsed);
  }

  Context& ctx_;
  std::string path_;
  YAML::Mark mark_;
  std::vector<Entry> entries_;
};

using Need = Section::Need;

// An address like tcp://HOST:PORT under `key`; a wrong form is a problem naming the form.
inline void readEndpoint(const Section& s, std::string_view key, std::string_view scheme,
                         std::string& out, Need need = Need::optional) {
  s.text(key, out, need);
  if (!out.empty() && !isEndpoint(out, scheme)) {
    s.ctx().add(s.get(key)->mark, s.path() + "." + std::string(key) + ": expected " +
                                      std::string(scheme) + "HOST:PORT, got '" + out + "'");
    out.clear();
  }
}

// Keys left out keep the values of `base`: the top-level policy for a process's own policy.
inline RestartPolicy readRestart(const Section& s, RestartPolicy base) {
  s.allowOnly({"immediate", "window", "then_every"});
  s.integer("immediate", base.immediate, 0, INT_MAX);
  s.duration("window", base.window, Zero::refused);
  s.duration("then_every", base.then_every, Zero::refused);
  return base;
}

inline std::optional<RestartPolicy> readOwnRestart(const Section& s, const Config& cfg) {
  if (!s.find("restart")) return std::nullopt;
  return readRestart(s.section("restart"), cfg.restart);
}

// A command's argv: a program named with a '/' is relative to the config file's directory
// (where commands also run); a bare name is looked up in PATH when it runs.
inline void resolveCommand(std::vector<std::string>& argv, const fs::path& dir) {
  if (!argv.empty() && argv[0].find('/') != std::string::npos)
    argv[0] = resolve(dir, argv[0]).string();
}

// Calls fn(section, index) for each mapping in a sequence; other items are problems.
template <typename Fn>
void forEachMapping(Context& ctx, const Value& list, Fn fn) {
  if (list.node.IsNull()) return;
  if (!list.node.IsSequence()) {
    wrongType(ctx, list, "a sequence");
    return;
  }
  for (std::size_t i = 0; i < list.node.size(); ++i) {
    const YAML::Node item = list.node[i];
    const Value v{item, item.Mark(), list.path + "[" + std::to_string(i) + "]"};
    if (!item.IsMap()) {
      wrongType(ctx, v, "a mapping");
      continue;
    }
    fn(Section(ctx, v), i);
  }
}

// Names that must be unique in a list (checks, files): a repeat names the first one's line.
class UniqueNames {
 public:
  explicit UniqueNames(std::string what) : what_(std::move(what)) {}
  void add(const Section& s, std::string_view key, const std::string& name) {
    const auto v = s.get(key);
    if (!v || name.empty()) return;
    auto [it, fresh] = first_line_.emplace(name, v->mark.line + 1);
    if (!fresh) {
      s.ctx().add(v->mark, "duplicate " + what_ + " '" + name + "' (first at line " +
                               std::to_string(it->second) + ")");
    }
  }

 private:
  std::string what_;
  std::map<std::string, int> first_line_;
};

// Each reads its section into `cfg`; defined in inputs.cpp and outputs.cpp.
void readInputs(const Section& inputs, const fs::path& dir, Config& cfg);
void readOutputs(const Section& outputs, const fs::path& dir, Config& cfg);

}  // namespace reporthub::config::detail
