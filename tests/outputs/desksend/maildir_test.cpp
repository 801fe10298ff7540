// Maildir file names (unique per report, recognisable as ours, the id read back) and the
// stage / sync / publish steps in a temporary directory.
#include "outputs/desksend/maildir.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

using namespace reporthub;
using reporthub::outputs::desksend::Maildir;
using reporthub::test::TempDir;

TEST_CASE("Maildir names carry the report time and id and read back", "[desksend]") {
  Maildir md("/nonexistent", "host.example");
  Report r;
  r.id = "node-7:42/x";
  r.ts_ns = 1'763'780'496'377'000'000;
  const auto name = md.fileName(r);
  CHECK(name == "1763780496.rh_node-7=3A42=2Fx.host.example");
  CHECK(name.find('/') == std::string::npos);
  CHECK(name.find(':') == std::string::npos);  // ':' starts a Maildir info suffix
  CHECK(Maildir::idOfFileName(name) == std::optional<std::string>("node-7:42/x"));
  for (const char* foreign : {"1763780496.M1P2Q3.host", "1763780496.rh_.host", "x.rh_a.host",
                              "1763780496.rh_a", ".rh_a.host", "1763780496.rh_a=ZZ.host"}) {
    INFO(foreign);
    CHECK_FALSE(Maildir::idOfFileName(foreign).has_value());
  }
  const auto host = Maildir::hostName();
  CHECK_FALSE(host.empty());
  CHECK(host.find('/') == std::string::npos);
  CHECK(host.find(':') == std::string::npos);
}

TEST_CASE("staged files appear in new/ only when published", "[desksend]") {
  TempDir dir;
  Maildir md(dir / "mail", "h");
  std::string error;
  // More than a handful: the batch is synced with syncfs instead of one fdatasync each.
  for (int i = 0; i < 5; ++i) {
    REQUIRE(md.stage("alice", "1.rh_" + std::to_string(i) + ".h", "m" + std::to_string(i), error));
  }
  CHECK(md.isStaged("alice", "1.rh_3.h"));
  CHECK(md.inTmp("alice", "1.rh_3.h"));
  CHECK(std::filesystem::is_empty(dir / "mail/alice/new"));
  REQUIRE(md.sync(error));
  REQUIRE(md.publish(error));
  CHECK(md.stagedCount() == 0);
  CHECK_FALSE(md.inTmp("alice", "1.rh_3.h"));
  std::ifstream in(dir / "mail/alice/new/1.rh_3.h");
  std::stringstream ss;
  ss << in.rdbuf();
  CHECK(ss.str() == "m3");
  CHECK(std::filesystem::is_empty(dir / "mail/alice/tmp"));
}

TEST_CASE("a user directory removed while running is made again", "[desksend]") {
  TempDir dir;
  Maildir md(dir / "mail", "h");
  std::string error;
  REQUIRE(md.stage("bob", "1.rh_a.h", "a", error));
  REQUIRE(md.sync(error));
  REQUIRE(md.publish(error));
  std::filesystem::remove_all(dir / "mail/bob");
  REQUIRE(md.stage("bob", "1.rh_b.h", "b", error));
  REQUIRE(md.sync(error));
  REQUIRE(md.publish(error));
  CHECK(std::filesystem::exists(dir / "mail/bob/new/1.rh_b.h"));
}
