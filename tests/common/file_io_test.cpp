// Whole reads and writes.
#include "common/file_io.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <system_error>

using namespace reporthub;

TEST_CASE("writeAll writes everything, readFrom reads from an offset to the end", "[file_io]") {
  test::TempDir dir;
  const auto path = dir / "f";
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  const std::string big(200'000, 'x');  // more than one read buffer
  CHECK(writeAll(fd, "head:" + big) == 5 + big.size());
  std::string out = "keep:";
  CHECK(readFrom(fd, 5, out));
  CHECK(out == "keep:" + big);
  close(fd);
  CHECK(readFileFrom(path, 0).substr(0, 5) == "head:");
  CHECK(readFileFrom(path, static_cast<off_t>(5 + big.size())).empty());
}

TEST_CASE("a failing write or read says so", "[file_io]") {
  CHECK(writeAll(-1, "x") == 0);
  CHECK(errno == EBADF);
  std::string out;
  CHECK_FALSE(readFrom(-1, 0, out));
  test::TempDir dir;
  CHECK_THROWS_AS(readFileFrom(dir / "missing"), std::system_error);
}
