// The ds.lock check: held by the expected process, by another, by nobody; and the watch
// that reports a lost lock within its interval. The test process takes the lock itself,
// in the hub's place.
#include "outputs/ds_send/ds_lock_watch.h"

#include "common/lock.h"
#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

using namespace reporthub;
using namespace reporthub::outputs::ds_send;
using namespace std::chrono_literals;

TEST_CASE("ds.lock must be held by the hub's pid", "[ds_send]") {
  test::TempDir dir;
  const auto path = dir / "ds.lock";
  CHECK(lockNotHeldBy(path, getpid()) == path.string() + " is not held by any process");
  {
    auto lock = ExclusiveLock::acquire(path);
    REQUIRE(lock);
    CHECK(lockNotHeldBy(path, getpid()).empty());
    CHECK(lockNotHeldBy(path, getpid() + 1) ==
          path.string() + " is held by pid " + std::to_string(getpid()) +
              ", not by this process's hub (pid " + std::to_string(getpid() + 1) + ")");
  }
  // Released: the file is still there, the lock is not.
  CHECK(std::filesystem::exists(path));
  CHECK(lockNotHeldBy(path, getpid()) == path.string() + " is not held by any process");
}

TEST_CASE("the watch reports a lost ds.lock within its interval, once, and then stops",
          "[ds_send]") {
  test::TempDir dir;
  const auto path = dir / "ds.lock";
  auto lock = ExclusiveLock::acquire(path);
  REQUIRE(lock);
  std::atomic<int> calls{0};
  std::string problem;
  {
    DsLockWatch watch(path, getpid(), 20ms, [&](const std::string& p) {
      problem = p;
      ++calls;
    });
    // Five checks' worth of time while it is held: silence. (A bounded wait for something
    // not to happen; there is no event to wait for instead.)
    std::this_thread::sleep_for(100ms);
    CHECK(calls == 0);
    lock->release();
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (calls == 0 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(5ms);
  }
  CHECK(calls == 1);
  CHECK(problem == path.string() + " is not held by any process");
}
