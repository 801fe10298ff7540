// How often an output answers the hub while deliveries keep coming (outputs/output.h).
#include "outputs/output.h"

#include <catch2/catch.hpp>

using reporthub::outputs::answerEvery;

TEST_CASE("an output answers after half its window, at most 512 deliveries", "[output]") {
  CHECK(answerEvery(1) == 1);  // never zero: each delivery is answered
  CHECK(answerEvery(2) == 1);
  CHECK(answerEvery(256) == 128);    // desksend
  CHECK(answerEvery(1024) == 512);   // printer, ds_send
  CHECK(answerEvery(16384) == 512);  // local: a large window, flushes still small
  CHECK(answerEvery(65536) == 512);
}
