// Tests for common/ring.h: the array-backed queue under the journal's cache.
#include "common/ring.h"

#include <catch2/catch.hpp>

#include <deque>
#include <memory>
#include <random>

using reporthub::Ring;

TEST_CASE("a ring agrees with a deque through pushes, pops, growth and wrap-around", "[ring]") {
  Ring<int> ring;
  std::deque<int> model;
  std::mt19937 rng(7);
  int next = 0;
  for (int step = 0; step < 20'000; ++step) {
    const unsigned op = rng() % 10;
    if (op < 5) {
      ring.push_back(next);
      model.push_back(next++);
    } else if (op < 8 && !model.empty()) {
      ring.pop_front();
      model.pop_front();
    } else if (op < 9 && !model.empty()) {
      ring.pop_back();
      model.pop_back();
    } else if (rng() % 50 == 0) {
      ring.clear();
      model.clear();
    }
    REQUIRE(ring.size() == model.size());
    REQUIRE(ring.empty() == model.empty());
    if (!model.empty()) {
      REQUIRE(ring.front() == model.front());
      REQUIRE(ring.back() == model.back());
      const std::size_t i = rng() % model.size();
      REQUIRE(ring[i] == model[i]);
    }
  }
  CHECK(next > 5000);
}

TEST_CASE("a ring releases what a popped element owns at once", "[ring]") {
  auto owned = std::make_shared<int>(1);
  Ring<std::shared_ptr<int>> ring;
  for (int i = 0; i < 40; ++i)  // past a growth, so moved elements are counted too
    ring.push_back(owned);
  CHECK(owned.use_count() == 41);
  ring.pop_front();
  ring.pop_back();
  CHECK(owned.use_count() == 39);
  ring.clear();
  CHECK(owned.use_count() == 1);
}
