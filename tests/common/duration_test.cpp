// Tests for common/duration.cpp: the config spelling of durations ("500ms", "5m") is parsed
// strictly, and formatDuration gives back the shortest exact spelling.
#include "common/duration.h"

#include <catch2/catch.hpp>

#include <string>

using namespace reporthub;
using namespace std::chrono_literals;

TEST_CASE("parseDuration accepts every unit", "[duration]") {
  CHECK(parseDuration("500ms") == Duration(500));
  CHECK(parseDuration("30s") == Duration(30'000));
  CHECK(parseDuration("5m") == Duration(300'000));
  CHECK(parseDuration("1h") == Duration(3'600'000));
  CHECK(parseDuration("2d") == Duration(172'800'000));
  CHECK(parseDuration("0s") == Duration(0));
  CHECK(parseDuration("0ms") == Duration(0));
  CHECK(parseDuration("007s") == Duration(7'000));
}

TEST_CASE("parseDuration refuses anything that is not <integer><unit>", "[duration]") {
  const char* bad = GENERATE("",         // nothing
                             "30",       // bare number: seconds or minutes?
                             "0",        // bare zero too
                             "ms",       // unit without a number
                             "s",        //
                             "-5s",      // negative
                             "-1ms",     //
                             "5x",       // unknown unit
                             "5sec",     //
                             "5min",     //
                             "5M",       // units are lower case
                             "5S",       //
                             "5 s",      // inner space
                             " 5s",      // leading space
                             "5s ",      // trailing space
                             "+5s",      // explicit sign
                             "1.5s",     // fractions
                             "5s5",      // junk after the unit
                             "5ms5ms",   //
                             "1h30m",    // compound spellings are not supported
                             "0x10s",    // hex
                             "five s");  //
  INFO("input: '" << bad << "'");
  CHECK_FALSE(parseDuration(bad).has_value());
}

TEST_CASE("parseDuration refuses values that overflow", "[duration]") {
  // INT64_MAX milliseconds is the largest representable duration.
  CHECK(parseDuration("9223372036854775807ms") == Duration(INT64_MAX));
  CHECK_FALSE(parseDuration("9223372036854775808ms").has_value());
  CHECK_FALSE(parseDuration("99999999999999999999999s").has_value());
  // The largest multiple of each unit that still fits, and one past it.
  CHECK(parseDuration("9223372036854775s") == Duration(9'223'372'036'854'775'000));
  CHECK_FALSE(parseDuration("9223372036854776s").has_value());
  CHECK(parseDuration("153722867280912m").has_value());
  CHECK_FALSE(parseDuration("153722867280913m").has_value());
  CHECK(parseDuration("2562047788015h").has_value());
  CHECK_FALSE(parseDuration("2562047788016h").has_value());
  CHECK(parseDuration("106751991167d") == Duration(106'751'991'167LL * 86'400'000LL));
  CHECK_FALSE(parseDuration("106751991168d").has_value());
}

// "-0s" is no valid duration either: the sign says the author meant something negative
// (from_chars reads it as 0, so a `value < 0` check alone would let it through).
TEST_CASE("parseDuration refuses a minus sign even on zero", "[duration]") {
  CHECK_FALSE(parseDuration("-0s").has_value());
  CHECK_FALSE(parseDuration("-0ms").has_value());
}

TEST_CASE("formatDuration gives the shortest exact spelling", "[duration]") {
  CHECK(formatDuration(0ms) == "0ms");
  CHECK(formatDuration(1ms) == "1ms");
  CHECK(formatDuration(500ms) == "500ms");
  CHECK(formatDuration(999ms) == "999ms");
  CHECK(formatDuration(1000ms) == "1s");
  CHECK(formatDuration(1500ms) == "1500ms");
  CHECK(formatDuration(1001ms) == "1001ms");
  CHECK(formatDuration(30s) == "30s");
  CHECK(formatDuration(90s) == "90s");
  CHECK(formatDuration(60s) == "1m");
  CHECK(formatDuration(5min) == "5m");
  CHECK(formatDuration(90min) == "90m");
  CHECK(formatDuration(60min) == "1h");
  CHECK(formatDuration(36h) == "36h");
  CHECK(formatDuration(24h) == "1d");
  CHECK(formatDuration(48h) == "2d");
  CHECK(formatDuration(Duration(86'400'001)) == "86400001ms");
}

TEST_CASE("formatDuration output parses back to the same duration", "[duration]") {
  for (std::int64_t ms : {0LL, 1LL, 7LL, 999LL, 1000LL, 1234LL, 60'000LL, 61'000LL, 3'600'000LL,
                          3'660'000LL, 86'400'000LL, 90'061'001LL, 604'800'000LL}) {
    const Duration d(ms);
    const std::string text = formatDuration(d);
    INFO(ms << "ms formatted as " << text);
    CHECK(parseDuration(text) == d);
  }
}
