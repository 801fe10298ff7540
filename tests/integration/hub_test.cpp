// End-to-end tests of the hub: lock, config errors, reports to the operator log,
// supervision of real misbehaving children, DMStop and control.
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

using namespace reporthub::test;

TEST_CASE("hubctl report reaches the operator log", "[hub][integration]") {
  Hub hub;
  hub.start();
  auto r = hub.hubctl({"report", "-C", "DISK", "-s", "warning", "root is 91% full"});
  REQUIRE(r.code == 0);
  REQUIRE(hub.waitLines(1, 1s));
  auto lines = readLines(hub.operatorLog());
  CHECK(lines[0].find("alpha DISK warning root is 91% full") != std::string::npos);
  CHECK(hub.stop() == 0);
}
