// Recently delivered ids: a batch counts only once committed, and the set stays bounded.
#include "outputs/recent_ids.h"

#include <catch2/catch.hpp>

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
