// The `inputs` section of the config: the check runner, the log scanner and the test input.
// Everything an input could only find out at run time and that the loader can know now
// (a pattern that does not compile, a user that does not exist) is refused here, with its
// line and column.
#include "common/syslog.h"
#include "common/wire.h"
#include "config/curve_keys.h"
#include "config/pattern.h"
#include "config/reader.h"

#include <pwd.h>

namespace reporthub::config::detail {

namespace {

constexpr std::pair<std::string_view, TestMode> kModeNames[] = {
    {"healthy", TestMode::healthy},     {"crash", TestMode::crash},
    {"hang", TestMode::hang},           {"ignore-term", TestMode::ignore_term},
    {"slow-stop", TestMode::slow_stop}, {"emit", TestMode::emit}};

constexpr std::pair<std::string_view, Severity> kSeverityNames[] = {
    {"info", Severity::info},
    {"warning", Severity::warning},
    {"error", Severity::error},
    {"critical", Severity::critical}};

constexpr std::pair<std::string_view, StartAt> kStartAtNames[] = {{"beginning", StartAt::beginning},
                                                                  {"end", StartAt::end}};

void readTestProcs(Context& ctx, const Value& list, Config& cfg) {
  UniqueNames names("testproc name");
  forEachMapping(ctx, list, [&](const Section& s, std::size_t) {
    s.allowOnly({"name", "mode", "delay", "count", "category", "restart"});
    TestProc p;
    s.name("name", p.name, "process name", Need::required);
    s.choice("mode", p.mode, kModeNames, Need::required);
    s.duration("delay", p.delay, Zero::allowed);
    s.integer("count", p.count, 0, INT_MAX);
    s.text("category", p.category);
    p.restart = readOwnRestart(s, cfg);
    names.add(s, "name", p.name);
    cfg.inputs.testproc.push_back(std::move(p));
  });
}

// ---- check ----

constexpr std::string_view kProbeKinds[] = {"command", "disk", "file", "process", "tcp", "queue"};

std::optional<CheckProbe> readProbe(const Section& check, const fs::path& dir) {
  Context& ctx = check.ctx();
  std::vector<std::string_view> present;
  for (auto kind : kProbeKinds) {
    if (check.find(kind)) present.push_back(kind);
  }
  if (present.size() != 1) {
    ctx.add(check.mark(), check.path() + ": needs exactly one of " + joinNames(kProbeKinds) +
                              (present.empty() ? "" : " (has " + joinNames(present) + ")"));
    return std::nullopt;
  }
  const std::string_view kind = present[0];
  if (kind == "command") {
    CommandCheck c;
    check.strings("command", c.argv);
    resolveCommand(c.argv, dir);
    check.text("user", c.user);
    if (!c.user.empty() && getpwnam(c.user.c_str()) == nullptr) {
      ctx.add(check.get("user")->mark,
              check.path() + ".user: no such user '" + c.user + "' on this machine");
    }
    return c;
  }
  if (check.find("user")) {
    ctx.add(check.find("user")->key_mark, check.path() + ": 'user' applies to command checks only");
  }
  const Section s = check.section(kind);
  if (kind == "disk") {
    s.allowOnly({"path", "warn", "crit"});
    DiskCheck d;
    s.path("path", d.path, dir, Need::required);
    s.percent("warn", d.warn);
    s.percent("crit", d.crit);
    if (d.warn > d.crit) ctx.add(s.mark(), s.path() + ": warn is above crit");
    return d;
  }
  if (kind == "file") {
    s.allowOnly({"path", "warn_age", "crit_age", "warn_size", "crit_size"});
    FileCheck f;
    s.path("path", f.path, dir, Need::required);
    s.duration("warn_age", f.warn_age, Zero::refused);
    s.duration("crit_age", f.crit_age, Zero::refused);
    s.size("warn_size", f.warn_size);
    s.size("crit_size", f.crit_size);
    if ((f.warn_age && f.crit_age && *f.warn_age > *f.crit_age) ||
        (f.warn_size && f.crit_size && *f.warn_size > *f.crit_size)) {
      ctx.add(s.mark(), s.path() + ": a warn limit is above its crit limit");
    }
    return f;
  }
  if (kind == "process") {
    s.allowOnly({"pidfile", "name", "min"});
    ProcessCheck p;
    s.path("pidfile", p.pidfile, dir);
    s.text("name", p.name);
    s.integer("min", p.min, 1, INT_MAX);
    if (p.pidfile.empty() == p.name.empty()) {
      ctx.add(s.mark(), s.path() + ": needs exactly one of pidfile, name");
    } else if (!p.pidfile.empty() && s.find("min")) {
      ctx.add(s.find("min")->key_mark, s.path() + ": 'min' applies to name only");
    }
    return p;
  }
  if (kind == "tcp") {
    s.allowOnly({"host", "port"});
    TcpCheck t;
    s.text("host", t.host, Need::required);
    if (!s.find("port")) ctx.add(s.mark(), "missing required key 'port' in " + s.path());
    s.integer("port", t.port, 1, 65535);
    return t;
  }
  s.allowOnly({"path", "warn", "crit"});
  QueueCheck q;
  s.path("path", q.path, dir, Need::required);
  for (const char* key : {"warn", "crit"}) {
    if (!s.find(key))
      ctx.add(s.mark(), "missing required key '" + std::string(key) + "' in " + s.path());
  }
  int warn = 0, crit = 0;
  s.integer("warn", warn, 0, INT_MAX);
  s.integer("crit", crit, 0, INT_MAX);
  q.warn = static_cast<std::uint64_t>(warn);
  q.crit = static_cast<std::uint64_t>(crit);
  if (q.warn > q.crit) ctx.add(s.mark(), s.path() + ": warn is above crit");
  return q;
}

void readCheck(const Section& section, const fs::path& dir, Config& cfg) {
  Context& ctx = section.ctx();
  section.allowOnly({"checks", "concurrency", "restart"});
  CheckInput in;
  section.integer("concurrency", in.concurrency, 1, 1024);
  in.restart = readOwnRestart(section, cfg);
  UniqueNames names("check name");
  const auto list = section.require("checks");
  if (list) {
    forEachMapping(ctx, *list, [&](const Section& s, std::size_t) {
      s.allowOnly({"name", "every", "timeout", "category", "desk", "renotify", "command", "user",
                   "disk", "file", "process", "tcp", "queue"});
      Check c;
      s.name("name", c.name, "check name", Need::required);
      names.add(s, "name", c.name);
      s.duration("every", c.every, Zero::refused);
      c.timeout = std::min<Duration>(c.timeout, c.every);
      s.duration("timeout", c.timeout, Zero::refused);
      if (c.timeout > c.every) {
        ctx.add(s.get("timeout")->mark, s.path() + ".timeout: " + formatDuration(c.timeout) +
                                            " is longer than every (" + formatDuration(c.every) +
                                            ")");
      }
      s.text("category", c.category, Need::required);
      s.flag("desk", c.desk);
      s.duration("renotify", c.renotify, Zero::refused);
      if (auto probe = readProbe(s, dir)) c.probe = std::move(*probe);
      in.checks.push_back(std::move(c));
    });
    if (list->node.IsSequence() && list->node.size() == 0) {
      ctx.add(list->mark, list->path + ": no checks; remove inputs.check or add one");
    }
  }
  cfg.inputs.check = std::move(in);
}

// ---- logscan ----

// Every pattern is compiled as logscan compiles it, so a pattern that would fail at run
// time is a config error with its position instead.
std::optional<int> compilePattern(Context& ctx, const Value& v, const std::string& pattern) {
  std::string error;
  pcre2_code* re = compileLogPattern(pattern, 0, error);
  if (!re) {
    ctx.add(v.mark, v.path + ": invalid pattern '" + pattern + "': " + error);
    return std::nullopt;
  }
  std::uint32_t captures = 0;
  pcre2_pattern_info(re, PCRE2_INFO_CAPTURECOUNT, &captures);
  pcre2_code_free(re);
  return static_cast<int>(captures);
}

// Templates: {0} the whole match, {1}..{9} capture groups, {{ and }} literal braces.
void checkTemplate(Context& ctx, const Value& v, const std::string& text, int captures) {
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if ((c == '{' || c == '}') && i + 1 < text.size() && text[i + 1] == c) {
      ++i;
      continue;
    }
    if (c == '}') {
      ctx.add(v.mark, v.path + ": unmatched '}' at offset " + std::to_string(i) +
                          " (write '}}' for a literal brace)");
      return;
    }
    if (c != '{') continue;
    if (i + 2 >= text.size() || text[i + 1] < '0' || text[i + 1] > '9' || text[i + 2] != '}') {
      ctx.add(v.mark, v.path + ": bad placeholder at offset " + std::to_string(i) +
                          " (use {0} for the match, {1}..{9} for groups, '{{' for a brace)");
      return;
    }
    const int group = text[i + 1] - '0';
    if (group > captures) {
      ctx.add(v.mark, v.path + ": {" + std::to_string(group) + "} but the pattern has " +
                          std::to_string(captures) + " capture group" + (captures == 1 ? "" : "s"));
      return;
    }
    i += 2;
  }
}

void readLogscan(const Section& section, const fs::path& dir, Config& cfg) {
  Context& ctx = section.ctx();
  section.allowOnly({"files", "max_line", "poll", "restart"});
  LogscanInput in;
  if (auto v = section.get("max_line")) {
    auto n = readSize(ctx, *v);
    if (n && (*n < 80 || *n > (16u << 20))) {
      ctx.add(v->mark, v->path + ": must be between 80 bytes and 16MiB");
    } else if (n) {
      in.max_line = static_cast<std::uint32_t>(*n);
    }
  }
  section.duration("poll", in.poll, Zero::refused);
  in.restart = readOwnRestart(section, cfg);
  UniqueNames paths("logscan file");
  const auto files = section.require("files");
  if (files) {
    forEachMapping(ctx, *files, [&](const Section& f, std::size_t) {
      f.allowOnly({"path", "rules", "start_at"});
      LogFile file;
      f.path("path", file.path, dir, Need::required);
      paths.add(f, "path", file.path.string());
      f.choice("start_at", file.start_at, kStartAtNames);
      const auto rules = f.require("rules");
      if (rules) {
        forEachMapping(ctx, *rules, [&](const Section& r, std::size_t) {
          r.allowOnly({"match", "category", "severity", "text", "continue"});
          LogRule rule;
          r.text("match", rule.match, Need::required);
          r.text("category", rule.category, Need::required);
          r.choice("severity", rule.severity, kSeverityNames);
          r.text("text", rule.text);
          r.flag("continue", rule.cont);
          if (!rule.match.empty()) {
            auto captures = compilePattern(ctx, *r.get("match"), rule.match);
            if (captures && !rule.text.empty()) {
              checkTemplate(ctx, *r.get("text"), rule.text, *captures);
            }
          }
          file.rules.push_back(std::move(rule));
        });
        if (rules->node.IsSequence() && rules->node.size() == 0) {
          ctx.add(rules->mark, rules->path + ": no rules; a file without rules reports nothing");
        }
      }
      in.files.push_back(std::move(file));
    });
    if (files->node.IsSequence() && files->node.size() == 0) {
      ctx.add(files->mark, files->path + ": no files; remove inputs.logscan or add one");
    }
  }
  cfg.inputs.logscan = std::move(in);
}

// ---- ns_receive ----

void readNsReceive(const Section& s, const fs::path& dir, Config& cfg) {
  s.allowOnly({"listen", "curve", "max_rate", "restart"});
  NsReceiveInput in;
  readEndpoint(s, "listen", "tcp://", in.listen, Need::required);
  if (s.find("curve")) {
    const Section c = s.section("curve");
    c.allowOnly({"secret_key", "allowed_clients"});
    CurveServer curve;
    c.path("secret_key", curve.secret_key, dir, Need::required);
    c.path("allowed_clients", curve.allowed_clients, dir, Need::required);
    checkSecretKeyFile(c, "secret_key", curve.secret_key);
    checkAllowedClients(c, "allowed_clients", curve.allowed_clients);
    in.curve = std::move(curve);
  }
  int rate = 0;
  s.integer("max_rate", rate, 0, INT_MAX);
  in.max_rate = static_cast<std::uint32_t>(rate);
  in.restart = readOwnRestart(s, cfg);
  cfg.inputs.ns_receive = std::move(in);
}

// ---- ds_receive ----

std::optional<int> readSyslogNumber(Context& ctx, const Value& v, bool facility) {
  auto text = readText(ctx, v);
  if (!text) return std::nullopt;
  auto n = facility ? syslog::parseFacility(*text) : syslog::parseSeverity(*text);
  if (!n) {
    ctx.add(v.mark,
            v.path + ": unknown " + (facility ? "facility" : "syslog severity") + " '" + *text +
                "' (" +
                (facility ? "kern, user, mail, daemon, auth, ..., local0..local7, or 0-23"
                          : "emerg, alert, crit, err, warning, notice, info, debug, or 0-7") +
                ")");
  }
  return n;
}

void readDsReceive(const Section& s, const fs::path&, Config& cfg) {
  Context& ctx = s.ctx();
  s.allowOnly(
      {"listen", "udp", "max_connections", "max_message", "default_category", "rules", "restart"});
  DsReceiveInput in;
  readEndpoint(s, "listen", "tcp://", in.listen, Need::required);
  readEndpoint(s, "udp", "udp://", in.udp);
  s.integer("max_connections", in.max_connections, 1, 65536);
  if (auto v = s.get("max_message")) {
    auto n = readSize(ctx, *v);
    if (n && (*n < 480 || *n > wire::kMaxBodyBytes / 2)) {
      ctx.add(v->mark, v->path + ": must be between 480 bytes (RFC 5424's minimum) and " +
                           std::to_string(wire::kMaxBodyBytes / 2 / 1024) + "KiB");
    } else if (n) {
      in.max_message = static_cast<std::uint32_t>(*n);
    }
  }
  s.text("default_category", in.default_category);
  if (auto rules = s.get("rules")) {
    forEachMapping(ctx, *rules, [&](const Section& r, std::size_t) {
      r.allowOnly({"app", "facility", "syslog_severity", "msgid", "match", "category", "severity"});
      SyslogRule rule;
      r.text("app", rule.app);
      r.text("msgid", rule.msgid);
      if (auto v = r.get("facility")) rule.facility = readSyslogNumber(ctx, *v, true);
      if (auto v = r.get("syslog_severity"))
        rule.syslog_severity = readSyslogNumber(ctx, *v, false);
      r.text("match", rule.match);
      if (!rule.match.empty()) compilePattern(ctx, *r.get("match"), rule.match);
      r.text("category", rule.category, Need::required);
      if (r.find("severity")) {
        Severity sev = Severity::info;
        r.choice("severity", sev, kSeverityNames);
        rule.severity = sev;
      }
      if (rule.app.empty() && rule.msgid.empty() && rule.match.empty() && !rule.facility &&
          !rule.syslog_severity) {
        ctx.add(r.mark(), r.path() +
                              ": no condition; give app, facility, syslog_severity, msgid or "
                              "match (default_category covers everything else)");
      }
      in.rules.push_back(std::move(rule));
    });
  }
  in.restart = readOwnRestart(s, cfg);
  cfg.inputs.ds_receive = std::move(in);
}

}  // namespace

void readInputs(const Section& inputs, const fs::path& dir, Config& cfg) {
  if (inputs.find("check")) readCheck(inputs.section("check"), dir, cfg);
  if (inputs.find("logscan")) readLogscan(inputs.section("logscan"), dir, cfg);
  if (inputs.find("ns_receive")) readNsReceive(inputs.section("ns_receive"), dir, cfg);
  if (inputs.find("ds_receive")) readDsReceive(inputs.section("ds_receive"), dir, cfg);
  if (auto list = inputs.get("testproc")) readTestProcs(inputs.ctx(), *list, cfg);
}

}  // namespace reporthub::config::detail
