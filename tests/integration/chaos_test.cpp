// The chaos test (issue: never lose a report): 100,000 reports from concurrent submitters
// while a killer sends SIGKILL to a random child every 50-200 ms and to the hub itself three
// times. Every report whose submission was acknowledged must appear in the operator log
// exactly once. Submitters behave like real ones: what was not acknowledged is submitted
// again, with the same id, to the next hub.
#include "common/child_link.h"
#include "tests/support/harness.h"

#include <catch2/catch.hpp>

#include <signal.h>

#include <atomic>
#include <iostream>
#include <map>
#include <mutex>
#include <random>
#include <thread>

using namespace reporthub;
using namespace reporthub::test;
using nlohmann::json;

namespace {

constexpr int kSubmitters = 4;
constexpr int kPerSubmitter = 25'000;
// Paced so the run lasts about 20 s: long enough for ~150 child kills, not a throughput test.
constexpr int kPerSecond = 1'250;

struct Shared {
  std::atomic<int> generation{0};  // bumped whenever a new hub is up
  std::atomic<long> acknowledged{0};
  std::atomic<int> finished{0};
};

// Submits its reports, surviving hub deaths: after one, waits for the next hub and sends
// again everything the dead one had not acknowledged.
void submitter(const Hub& hub, Shared& shared, int n, std::vector<std::string>& ids) {
  const std::string endpoint = hub.childEndpoint();
  for (int i = 0; i < kPerSubmitter; ++i)
    ids.push_back(newReportId());
  std::size_t done = 0;  // ids[0, done) are acknowledged
  while (done < ids.size()) {
    const int gen = shared.generation.load();
    zmq::context_t ctx(1);
    std::unique_ptr<ChildLink> link;
    try {
      link = std::make_unique<ChildLink>(
          ctx,
          ChildLink::Options{endpoint, "test", "submitter" + std::to_string(n), wire::Kind::input},
          std::chrono::seconds(2));
    } catch (const std::exception&) {
      continue;  // the hub is down: try again, the next one will answer
    }
    const std::size_t base = done;
    std::size_t next = done;
    const auto start = std::chrono::steady_clock::now();
    while (shared.generation.load() == gen && done < ids.size()) {
      const auto elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start);
      const std::size_t allowed = base + static_cast<std::size_t>(elapsed.count() * kPerSecond) + 1;
      while (next < ids.size() && next < allowed && link->hasCredit()) {
        Report r;
        r.id = ids[next];
        r.ts_ns = nowNs();
        r.origin = "alpha";
        r.source = "chaos";
        r.category = "CHAOS";
        r.text = "submitter " + std::to_string(n) + " report " + std::to_string(next);
        link->submit(r);
        ++next;
      }
      link->pump(std::chrono::milliseconds(10));
      const std::size_t acked = base + link->acked();
      shared.acknowledged += static_cast<long>(acked - done);
      done = acked;
    }
  }
  ++shared.finished;
}

std::vector<int> childPids(const Hub& hub) {
  std::vector<int> pids;
  const auto st = json::parse(readFile(hub.dir() / "var/status.json"), nullptr, false);
  if (st.is_discarded() || !st.contains("processes")) return pids;
  for (const auto& p : st["processes"]) {
    if (p.value("pid", 0) > 0) pids.push_back(p["pid"]);
  }
  return pids;
}

}  // namespace

TEST_CASE("chaos: SIGKILL to children and to the hub loses and duplicates nothing",
          "[chaos][durability][integration]") {
  Hub hub(
      "restart: { immediate: 1000, window: 1s, then_every: 50ms }\n"
      "inputs:\n  testproc:\n    - { name: a, mode: healthy }\n    - { name: b, mode: healthy }\n");
  hub.start();
  Shared shared;
  std::vector<std::vector<std::string>> ids(kSubmitters);
  std::vector<std::thread> threads;
  for (int i = 0; i < kSubmitters; ++i) {
    threads.emplace_back([&, i] { submitter(hub, shared, i, ids[i]); });
  }

  std::mt19937 rng(20261122);
  int child_kills = 0, hub_kills = 0;
  const long total = long(kSubmitters) * kPerSubmitter;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(3);
  while (shared.finished.load() < kSubmitters && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 151));  // the killer's pace
    if (hub_kills < 3 && shared.acknowledged.load() >= total * (hub_kills + 1) / 4) {
      hub.process().killAll();
      ++hub_kills;
      hub.start();
      ++shared.generation;
      continue;
    }
    const auto pids = childPids(hub);
    if (!pids.empty() && kill(pids[rng() % pids.size()], SIGKILL) == 0) ++child_kills;
  }
  for (auto& t : threads)
    t.join();
  REQUIRE(shared.finished.load() == kSubmitters);

  // Everything acknowledged must arrive; then DMStop.
  std::map<std::string, int> want;
  for (const auto& v : ids) {
    for (const auto& id : v)
      want[id] = 0;
  }
  auto count = [&] {
    for (auto& [id, n] : want)
      n = 0;
    for (const auto& line : readLines(hub.operatorLog())) {
      if (line.size() < 38 || line.back() != ']') continue;
      if (auto it = want.find(line.substr(line.size() - 37, 36)); it != want.end()) ++it->second;
    }
    return std::count_if(want.begin(), want.end(), [](const auto& kv) { return kv.second > 0; });
  };
  waitFor([&] { return count() == static_cast<long>(want.size()); }, std::chrono::seconds(60),
          std::chrono::milliseconds(500));
  CHECK(hub.stop() == 0);
  count();
  long delivered = 0, duplicates = 0, lost = 0;
  for (const auto& [id, n] : want) {
    if (n == 0)
      ++lost;
    else
      ++delivered;
    if (n > 1) duplicates += n - 1;
  }
  std::cout << "chaos: acknowledged " << shared.acknowledged.load() << ", delivered " << delivered
            << ", duplicates " << duplicates << ", lost " << lost << " (child kills " << child_kills
            << ", hub kills " << hub_kills << ")\n";
  CHECK(shared.acknowledged.load() == total);
  CHECK(hub_kills == 3);
  CHECK(child_kills >= 10);
  CHECK(lost == 0);
  CHECK(duplicates == 0);
}
