// The `outputs` section of the config: the operator console (always there), the printer
// and mail to users.
#include "common/syslog.h"
#include "config/curve_keys.h"
#include "config/reader.h"

namespace reporthub::config::detail {

namespace {

constexpr std::pair<std::string_view, LogFormat> kFormatNames[] = {{"text", LogFormat::text},
                                                                   {"json", LogFormat::json}};
constexpr std::pair<std::string_view, SmtpSettings::Tls> kTlsNames[] = {
    {"try", SmtpSettings::Tls::try_},
    {"required", SmtpSettings::Tls::required},
    {"never", SmtpSettings::Tls::never}};

RetryPolicy readRetry(const Section& s) {
  s.allowOnly({"first", "max", "alert_after"});
  RetryPolicy r;
  s.duration("first", r.first, Zero::refused);
  s.duration("max", r.max, Zero::refused);
  s.integer("alert_after", r.alert_after, 1, INT_MAX);
  if (r.first > r.max) s.ctx().add(s.mark(), s.path() + ": first is longer than max");
  return r;
}

void readLocal(const Section& s, const fs::path& dir, Config& cfg) {
  LocalOutput& local = cfg.outputs.local;
  local.file = resolve(dir, "var/operator.log");
  s.allowOnly({"file", "format", "rotate", "restart"});
  s.path("file", local.file, dir);
  s.choice("format", local.format, kFormatNames);
  if (s.find("rotate")) {
    const Section r = s.section("rotate");
    r.allowOnly({"size", "keep"});
    if (!r.find("size")) s.ctx().add(r.mark(), "missing required key 'size' in " + r.path());
    std::optional<std::uint64_t> size;
    r.size("size", size);
    if (size && *size < 4096) {
      s.ctx().add(r.get("size")->mark, r.path() + ".size: must be at least 4KiB");
    } else if (size) {
      local.rotate_size = *size;
    }
    r.integer("keep", local.rotate_keep, 1, 1000);
  }
  local.restart = readOwnRestart(s, cfg);
}

void readPrinter(const Section& s, const fs::path& dir, Config& cfg) {
  s.allowOnly({"command", "spool", "batch", "timeout", "retry", "restart"});
  PrinterOutput p;
  s.strings("command", p.command);
  resolveCommand(p.command, dir);
  s.path("spool", p.spool, dir);
  if (s.find("command") == nullptr && s.find("spool") == nullptr) {
    s.ctx().add(s.mark(), s.path() + ": needs command (e.g. [lp, -d, ops]) or spool (a directory)");
  } else if (s.find("command") && s.find("spool")) {
    s.ctx().add(s.mark(), s.path() + ": use either command or spool, not both");
  }
  s.duration("batch", p.batch, Zero::allowed);
  s.duration("timeout", p.timeout, Zero::refused);
  p.retry = readRetry(s.section("retry"));
  p.restart = readOwnRestart(s, cfg);
  cfg.outputs.printer = std::move(p);
}

// A From: header goes into every message as is: printable ASCII only, so no report can
// smuggle a header line in through the config.
void checkFrom(const Section& s, std::string_view key, std::string& from) {
  const bool printable = std::all_of(from.begin(), from.end(), [](char c) {
    return static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f;
  });
  if (printable) return;
  s.ctx().add(s.get(key)->mark, s.path() + "." + std::string(key) +
                                    ": use printable ASCII only (addr or Name <addr>)");
  from.clear();
}

void readSmtp(const Section& s, const fs::path& dir, DesksendOutput& d) {
  s.allowOnly({"url", "from", "domain", "tls", "user", "password_file", "ca_file", "timeout"});
  SmtpSettings smtp;
  s.text("url", smtp.url, Need::required);
  if (!smtp.url.empty() && !smtp.url.starts_with("smtp://") && !smtp.url.starts_with("smtps://")) {
    s.ctx().add(s.get("url")->mark,
                s.path() + ".url: expected smtp://HOST[:PORT] or smtps://HOST[:PORT], got '" +
                    smtp.url + "'");
  }
  s.text("from", smtp.from);
  checkFrom(s, "from", smtp.from);
  s.text("domain", smtp.domain);
  s.choice("tls", smtp.tls, kTlsNames);
  if (smtp.tls == SmtpSettings::Tls::never && smtp.url.starts_with("smtps://")) {
    s.ctx().add(s.get("tls")->mark,
                s.path() + ".tls: 'never' contradicts an smtps:// url (TLS from the start)");
  }
  s.path("ca_file", smtp.ca_file, dir);
  s.text("user", smtp.user);
  s.path("password_file", smtp.password_file, dir);
  if (smtp.user.empty() != smtp.password_file.empty()) {
    s.ctx().add(s.mark(), s.path() + ": user and password_file go together");
  }
  s.duration("timeout", smtp.timeout, Zero::refused);
  if (smtp.from.empty()) smtp.from = d.from;
  d.smtp = std::move(smtp);
}

void readDesksend(const Section& s, const fs::path& dir, Config& cfg) {
  s.allowOnly({"maildir", "from", "smtp", "retry", "restart"});
  DesksendOutput d;
  d.maildir = resolve(dir, "var/mail");
  s.path("maildir", d.maildir, dir);
  s.text("from", d.from);
  checkFrom(s, "from", d.from);
  if (d.from.empty()) d.from = "reporthub@" + (cfg.node.empty() ? "localhost" : cfg.node);
  if (s.find("smtp")) readSmtp(s.section("smtp"), dir, d);
  d.retry = readRetry(s.section("retry"));
  d.restart = readOwnRestart(s, cfg);
  cfg.outputs.desksend = std::move(d);
}

void readNsSend(const Section& s, const fs::path& dir, Config& cfg) {
  s.allowOnly({"secret_key", "heartbeat", "timeout", "retry", "restart"});
  NsSendOutput& n = cfg.outputs.ns_send;
  s.path("secret_key", n.secret_key, dir);
  checkSecretKeyFile(s, "secret_key", n.secret_key);
  s.duration("heartbeat", n.heartbeat, Zero::refused);
  s.duration("timeout", n.timeout, Zero::refused);
  n.retry = readRetry(s.section("retry"));
  n.restart = readOwnRestart(s, cfg);
}

void readDsSend(const Section& s, const fs::path&, Config& cfg) {
  s.allowOnly({"target", "facility", "app_name", "timeout", "retry", "restart"});
  DsSendOutput d;
  readEndpoint(s, "target", "tcp://", d.target, Need::required);
  if (auto v = s.get("facility")) {
    auto text = readText(s.ctx(), *v);
    auto f = text ? syslog::parseFacility(*text) : std::nullopt;
    if (text && !f) {
      s.ctx().add(v->mark, v->path + ": unknown facility '" + *text +
                               "' (kern, user, mail, daemon, auth, ..., local0..local7, or 0-23)");
    }
    if (f) d.facility = *f;
  }
  s.text("app_name", d.app_name);
  // RFC 5424 APP-NAME: 1-48 printable US-ASCII characters, no space.
  const bool app_ok = !d.app_name.empty() && d.app_name.size() <= 48 &&
                      std::all_of(d.app_name.begin(), d.app_name.end(),
                                  [](char c) { return c > 0x20 && c < 0x7f; });
  if (!app_ok) {
    s.ctx().add(s.get("app_name") ? s.get("app_name")->mark : s.mark(),
                s.path() + ".app_name: 1-48 printable ASCII characters without spaces");
  }
  s.duration("timeout", d.timeout, Zero::refused);
  d.retry = readRetry(s.section("retry"));
  d.restart = readOwnRestart(s, cfg);
  cfg.outputs.ds_send = std::move(d);
}

}  // namespace

void readOutputs(const Section& outputs, const fs::path& dir, Config& cfg) {
  readLocal(outputs.section("local"), dir, cfg);
  if (outputs.find("printer")) readPrinter(outputs.section("printer"), dir, cfg);
  if (outputs.find("desksend")) readDesksend(outputs.section("desksend"), dir, cfg);
  if (outputs.find("ns_send")) readNsSend(outputs.section("ns_send"), dir, cfg);
  if (outputs.find("ds_send")) readDsSend(outputs.section("ds_send"), dir, cfg);
}

}  // namespace reporthub::config::detail
