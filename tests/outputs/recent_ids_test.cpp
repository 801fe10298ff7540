// Recently delivered ids: a batch counts only once committed, and the set stays bounded.
#include "outputs/recent_ids.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <deque>
#include <random>
#include <string>
#include <vector>

using reporthub::outputs::RecentIds;

TEST_CASE("ids of a failed batch are forgotten, of a committed one remembered", "[local]") {
  RecentIds ids(10);
  ids.add("a");
  ids.add("b");
  ids.commit();
  ids.add("c");
  CHECK(ids.contains("c"));  // a duplicate inside the batch is caught too
  ids.rollback();
  CHECK(ids.contains("a"));
  CHECK(ids.contains("b"));
  CHECK_FALSE(ids.contains("c"));
}

TEST_CASE("the oldest committed ids make room for new ones", "[local]") {
  RecentIds ids(3);
  for (const char* id : {"1", "2", "3", "4", "5"})
    ids.add(id);
  ids.commit();
  CHECK(ids.size() == 3);
  CHECK_FALSE(ids.contains("1"));
  CHECK_FALSE(ids.contains("2"));
  CHECK(ids.contains("5"));
  ids.add("5");  // already there: no second entry
  ids.commit();
  CHECK(ids.size() == 3);
}

// The index is hand-made (open addressing with backward-shift deletion): checked against a
// plain set through many rounds of adds, commits and rollbacks, with the ring wrapping and
// growing and ids evicted from the middle of probe runs.
TEST_CASE("recent ids agree with a plain set through adds, commits and rollbacks", "[local]") {
  constexpr std::size_t kCapacity = 700;
  RecentIds ids(kCapacity);
  std::deque<std::string> model;  // oldest first; the first `committed` are durable
  std::size_t committed = 0;
  std::mt19937 rng(42);
  auto idOf = [](unsigned n) { return "0190-" + std::to_string(n * 2654435761u); };
  auto inModel = [&](const std::string& id) {
    return std::find(model.begin(), model.end(), id) != model.end();
  };
  unsigned next = 0;
  for (int round = 0; round < 3000; ++round) {
    const unsigned batch = rng() % 40;
    for (unsigned k = 0; k < batch; ++k) {
      // Now and then an id seen recently, or one long since evicted.
      const unsigned n = rng() % 8 == 0 ? next - std::min<unsigned>(next, rng() % 1500u) : next++;
      const std::string id = idOf(n);
      const bool fresh = !inModel(id);
      if (fresh) model.push_back(id);
      REQUIRE(ids.add(id) == fresh);
    }
    if (rng() % 4 == 0) {
      ids.rollback();
      model.resize(committed);
    } else {
      ids.commit();
      committed = model.size();
      while (model.size() > kCapacity) {
        model.pop_front();
        --committed;
      }
    }
    REQUIRE(ids.size() == model.size());
    for (unsigned n = next > 2000 ? next - 2000 : 0; n < next; n += 7) {
      const std::string id = idOf(n);
      REQUIRE(ids.contains(id) == inModel(id));
    }
  }
  std::vector<std::string> listed;
  ids.forEachCommitted([&](std::string_view id) { listed.emplace_back(id); });
  CHECK(listed == std::vector<std::string>(model.begin(), model.end()));
}
