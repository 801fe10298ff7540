// Tests of the mapping rules (inputs/ds_receive/mapper.h): the first rule whose every
// condition holds wins, syslog_severity takes the more severe too, and severity is the
// rule's or syslog's.
#include "inputs/ds_receive/mapper.h"

#include <catch2/catch.hpp>

using namespace reporthub;
using namespace reporthub::inputs::ds_receive;

namespace {

config::SyslogRule rule(const std::string& category) {
  config::SyslogRule r;
  r.category = category;
  return r;
}

SyslogMessage msg(std::string_view app, int facility, int severity, std::string_view text,
                  std::string_view msgid = {}) {
  SyslogMessage m;
  m.app = app;
  m.facility = facility;
  m.severity = severity;
  m.msg = text;
  m.msgid = msgid;
  return m;
}

}  // namespace

TEST_CASE("the first rule whose every condition holds gives the category", "[ds_receive]") {
  config::DsReceiveInput cfg;
  cfg.default_category = "SYSLOG";
  auto sshd = rule("AUTH");
  sshd.app = "sshd";
  sshd.match = "Failed password for (\\S+)";
  sshd.severity = Severity::warning;
  auto crit = rule("URGENT");
  crit.syslog_severity = 2;  // crit or worse
  auto mail = rule("MAIL");
  mail.facility = 2;
  auto id = rule("BACKUP");
  id.msgid = "BKP";
  auto any_sshd = rule("SSHD");
  any_sshd.app = "sshd";
  cfg.rules = {sshd, crit, mail, id, any_sshd};
  Mapper mapper(cfg);

  auto cat = [&](const SyslogMessage& m) { return *mapper.map(m).category; };

  // app and pattern must both hold; otherwise a later rule for the app takes it.
  CHECK(cat(msg("sshd", 4, 6, "Failed password for root from 10.0.0.1")) == "AUTH");
  CHECK(mapper.map(msg("sshd", 4, 6, "Failed password for root")).rule == 1);
  CHECK(cat(msg("sshd", 4, 6, "Accepted publickey for root")) == "SSHD");
  CHECK(cat(msg("cron", 4, 6, "Failed password for root")) == "SYSLOG");
  // Order: a critical sshd line that does not match rule 1 goes to rule 2, not 5.
  CHECK(cat(msg("sshd", 4, 2, "Accepted")) == "URGENT");
  // syslog_severity: crit and more severe (0..2), not err (3).
  CHECK(cat(msg("x", 1, 0, "a")) == "URGENT");
  CHECK(cat(msg("x", 1, 2, "a")) == "URGENT");
  CHECK(cat(msg("x", 1, 3, "a")) == "SYSLOG");
  CHECK(cat(msg("postfix", 2, 6, "a")) == "MAIL");
  CHECK(cat(msg("x", 1, 6, "a", "BKP")) == "BACKUP");
  CHECK(cat(msg("x", 1, 6, "a", "BKP2")) == "SYSLOG");
  CHECK(mapper.map(msg("x", 1, 6, "a")).rule == 0);
}

TEST_CASE("severity is the rule's if set, else mapped from syslog's", "[ds_receive]") {
  config::DsReceiveInput cfg;
  auto with = rule("A");
  with.app = "a";
  with.severity = Severity::critical;
  auto without = rule("B");
  without.app = "b";
  cfg.rules = {with, without};
  Mapper mapper(cfg);
  CHECK(mapper.map(msg("a", 1, 6, "x")).severity == Severity::critical);
  CHECK(mapper.map(msg("b", 1, 3, "x")).severity == Severity::error);
  CHECK(mapper.map(msg("b", 1, 4, "x")).severity == Severity::warning);
  CHECK(mapper.map(msg("b", 1, 1, "x")).severity == Severity::critical);
  CHECK(mapper.map(msg("c", 1, 7, "x")).severity == Severity::info);
  CHECK(*mapper.map(msg("c", 1, 7, "x")).category == "SYSLOG");
}

TEST_CASE("a pattern that does not compile is refused with its rule", "[ds_receive]") {
  config::DsReceiveInput cfg;
  auto bad = rule("X");
  bad.match = "(unclosed";
  cfg.rules = {rule("A"), bad};
  cfg.rules[0].app = "a";
  CHECK_THROWS_WITH(Mapper(cfg), Catch::Contains("rule 2"));
}
