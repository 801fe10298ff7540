// The persistent delivered-ids record: what is committed survives a new instance, what is
// not does not, a torn append is cut off, and the file stays bounded.
#include "outputs/delivered_ids.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <csignal>

#include <fstream>
#include <sstream>

using reporthub::outputs::DeliveredIds;
using reporthub::test::filesIn;
using reporthub::test::readFile;
using reporthub::test::TempDir;

namespace {

std::size_t lineCount(const std::filesystem::path& p) {
  const auto text = readFile(p);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

}  // namespace

TEST_CASE("committed keys survive a new instance, uncommitted ones do not",
          "[desksend][delivered_ids]") {
  TempDir dir;
  const auto file = dir / "d.ids";
  std::string error;
  {
    DeliveredIds ids(file);
    CHECK(ids.loaded() == 0);
    ids.add("m 01a 1 alice");
    ids.add("s 01a 1 alice");
    CHECK(ids.contains("m 01a 1 alice"));  // a duplicate inside the batch is caught too
    REQUIRE(ids.commit(error));
    ids.add("m 01b bob");
    ids.rollback();
    CHECK_FALSE(ids.contains("m 01b bob"));
    ids.add("m 01c carol");  // added, never committed: the process "crashes"
  }
  DeliveredIds again(file);
  CHECK(again.loaded() == 2);
  CHECK(again.contains("m 01a 1 alice"));
  CHECK(again.contains("s 01a 1 alice"));
  CHECK_FALSE(again.contains("m 01b bob"));
  CHECK_FALSE(again.contains("m 01c carol"));
  CHECK(readFile(file) == "m 01a 1 alice\ns 01a 1 alice\n");
}

TEST_CASE("a torn last line is cut off at load", "[desksend][delivered_ids]") {
  TempDir dir;
  const auto file = dir.write("d.ids", "k1\nk2\nk3-half");
  DeliveredIds ids(file);
  CHECK(ids.loaded() == 2);
  CHECK_FALSE(ids.contains("k3-half"));
  std::string error;
  ids.add("k4");
  REQUIRE(ids.commit(error));
  CHECK(readFile(file) == "k1\nk2\nk4\n");
}

TEST_CASE("the file is rewritten to its newest keys when it doubles", "[desksend][delivered_ids]") {
  TempDir dir;
  const auto file = dir / "d.ids";
  std::string error;
  {
    DeliveredIds ids(file, 10);
    for (int batch = 0; batch < 10; ++batch) {
      for (int i = 0; i < 5; ++i)
        ids.add("key-" + std::to_string(batch * 5 + i));
      REQUIRE(ids.commit(error));
      CHECK(lineCount(file) <= 20);
    }
    CHECK(ids.size() == 10);
    CHECK(ids.contains("key-49"));
    CHECK_FALSE(ids.contains("key-39"));
  }
  DeliveredIds again(file, 10);
  CHECK(again.contains("key-40"));
  CHECK(again.contains("key-49"));
  CHECK_FALSE(again.contains("key-39"));
}

TEST_CASE("a failed commit forgets the batch and cuts the file back", "[desksend][delivered_ids]") {
  TempDir dir;
  const auto file = dir / "d.ids";
  std::string error;
  DeliveredIds ids(file);
  ids.add("kept");
  REQUIRE(ids.commit(error));
  // A file size limit a few bytes past the end makes the next append fail half-way (EFBIG),
  // as a full disk would.
  rlimit old{};
  REQUIRE(getrlimit(RLIMIT_FSIZE, &old) == 0);
  const auto old_handler = signal(SIGXFSZ, SIG_IGN);
  rlimit small = old;
  small.rlim_cur = 10;
  REQUIRE(setrlimit(RLIMIT_FSIZE, &small) == 0);
  ids.add("lost-key-one");
  ids.add("lost-key-two");
  const bool ok = ids.commit(error);
  setrlimit(RLIMIT_FSIZE, &old);
  signal(SIGXFSZ, old_handler);
  CHECK_FALSE(ok);
  CHECK(error.find(file.string()) != std::string::npos);
  CHECK_FALSE(ids.contains("lost-key-one"));
  CHECK(readFile(file) == "kept\n");
  // The next batch lands after the committed part, not after the torn one.
  ids.add("next");
  REQUIRE(ids.commit(error));
  CHECK(readFile(file) == "kept\nnext\n");
}

TEST_CASE("keys with newlines are refused as a caller bug", "[desksend][delivered_ids]") {
  TempDir dir;
  DeliveredIds ids(dir / "d.ids");
  CHECK_THROWS_AS(ids.add("a\nb"), std::invalid_argument);
  CHECK_THROWS_AS(ids.add(""), std::invalid_argument);
}
