// ds.lock (DESIGN §1 "Start", step 4): held by the hub while DS transport is configured,
// and the DS processes exit without it.
#include "common/lock.h"
#include "tests/support/harness.h"
#include "tests/support/net.h"

#include <catch2/catch.hpp>

using namespace reporthub;
using namespace reporthub::test;

namespace {

const std::string kHead = "node: alpha\npaths: { state_dir: var, run_dir: run }\n";

std::string dsReceive(int port) {
  return "inputs:\n  ds_receive: { listen: \"tcp://127.0.0.1:" + std::to_string(port) + "\" }\n";
}

}  // namespace

TEST_CASE("the hub holds ds.lock while DS transport is configured, and only then",
          "[ds][integration]") {
  Hub hub(dsReceive(freePort()));
  hub.start();
  const auto lock = hub.dir() / "var/ds.lock";
  const auto holder = ExclusiveLock::holder(lock);
  REQUIRE(holder);
  CHECK(holder->pid == hub.status()["pid"].get<int>());
  REQUIRE(waitFor([&] { return hub.processStatus("ds_receive")["state"] == "running"; }));

  // A reload that takes DS out stops ds_receive, then lets the lock go.
  writeFile(hub.config(), kHead);
  REQUIRE(hub.hubctl({"reload"}).code == 0);
  REQUIRE(waitFor([&] { return !ExclusiveLock::holder(lock); }));
  CHECK(hub.processStatus("ds_receive").is_null());

  // And one that puts it back takes the lock before ds_receive looks for it.
  writeFile(hub.config(), kHead + dsReceive(freePort()));
  REQUIRE(hub.hubctl({"reload"}).code == 0);
  REQUIRE(waitFor([&] { return hub.processStatus("ds_receive")["state"] == "running"; }));
  CHECK(ExclusiveLock::holder(lock));
  CHECK(hub.processStatus("ds_receive")["restarts"] == 0);
  CHECK(hub.stop() == 0);
  CHECK_FALSE(ExclusiveLock::holder(lock));
}

TEST_CASE("without DS transport the hub does not take ds.lock", "[ds][integration]") {
  Hub hub;
  hub.start();
  CHECK_FALSE(ExclusiveLock::holder(hub.dir() / "var/ds.lock"));
  CHECK(hub.stop() == 0);
}

TEST_CASE("DS processes exit when the hub does not hold ds.lock", "[ds][integration]") {
  // Another process holds ds.lock first: the hub cannot take it, so ds_receive must not run.
  Hub hub(dsReceive(freePort()));
  std::filesystem::create_directories(hub.dir() / "var");
  auto other = ExclusiveLock::acquire(hub.dir() / "var/ds.lock");
  REQUIRE(other);
  hub.start();
  REQUIRE(waitFor([&] {
    auto p = hub.processStatus("ds_receive");
    return p.is_object() && p["restarts"].get<int>() >= 1;
  }));
  CHECK(readFile(hub.hubLog()).find("cannot take") != std::string::npos);
  // Once it is free the hub takes it and ds_receive stays up.
  other->release();
  REQUIRE(
      waitFor([&] { return ExclusiveLock::holder(hub.dir() / "var/ds.lock").has_value(); }, 15s));
  // The log line follows the lock: wait for it rather than read the log at once.
  CHECK(waitFor(
      [&] { return readFile(hub.hubLog()).find("DS transport available") != std::string::npos; }));
  CHECK(hub.stop() == 0);
}
