// Tests of ds_receive's guard on ds.lock (common/lock.h's lockNotHeldBy, as ds_receive
// calls it): it serves only while its hub, and no other process, holds the lock.
#include "inputs/ds_receive/ds_receive.h"

#include "common/lock.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <unistd.h>

using namespace reporthub;

TEST_CASE("ds.lock must be held by the hub", "[ds_receive]") {
  test::TempDir dir;
  const auto path = dir / "ds.lock";
  // No file, then a file nobody holds.
  CHECK_THAT(lockNotHeldBy(path, getpid()), Catch::Contains("is not held by any process"));
  {
    auto lock = ExclusiveLock::acquire(path);
    REQUIRE(lock);
    CHECK(lockNotHeldBy(path, getpid()).empty());
    CHECK_THAT(lockNotHeldBy(path, getpid() + 1),
               Catch::Contains("is held by pid " + std::to_string(getpid())));
  }
  CHECK_THAT(lockNotHeldBy(path, getpid()), Catch::Contains("is not held by any process"));
}
