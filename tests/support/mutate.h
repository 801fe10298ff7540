// Mutation fuzzing for decoders: a valid encoding with a few random bit flips, byte
// overwrites (including msgpack length and type boundaries), insertions, deletions and
// truncations. Shared by the report and envelope codec tests.
#pragma once

#include <random>
#include <string>

namespace reporthub::test {

inline std::string mutate(std::string bytes, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> byte(0, 255), op(0, 5), count(1, 4);
  for (int m = count(rng); m > 0 && !bytes.empty(); --m) {
    const std::size_t at = std::uniform_int_distribution<std::size_t>(0, bytes.size() - 1)(rng);
    switch (op(rng)) {
      case 0:  // flip one bit
        bytes[at] = static_cast<char>(bytes[at] ^ (1 << (byte(rng) % 8)));
        break;
      case 1:  // overwrite with a random byte
        bytes[at] = static_cast<char>(byte(rng));
        break;
      case 2:  // overwrite with a length-ish boundary byte
        bytes[at] = "\x00\x7f\x80\xff\xdb\xdd\xdf\xc6\x99\x9f"[byte(rng) % 10];
        break;
      case 3:  // insert
        bytes.insert(at, 1, static_cast<char>(byte(rng)));
        break;
      case 4:  // delete
        bytes.erase(at, 1);
        break;
      case 5:  // truncate
        bytes.resize(at);
        break;
    }
  }
  return bytes;
}

}  // namespace reporthub::test
