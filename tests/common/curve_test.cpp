// Tests for common/curve: key pairs as keygen writes them, secret key files and allowed
// client files read back, with every problem at its line.
#include "common/curve.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace reporthub;
using reporthub::test::TempDir;

namespace {

bool mentions(const std::vector<curve::FileProblem>& problems, int line, const std::string& text) {
  for (const auto& p : problems) {
    if (p.line == line && p.message.find(text) != std::string::npos) return true;
  }
  return false;
}

std::filesystem::path secretFile(const TempDir& dir, const std::string& text) {
  auto f = dir.write("node.key", text);
  chmod(f.c_str(), 0600);
  return f;
}

}  // namespace

TEST_CASE("keygen files are written once, 0600, and read back to the same keys", "[curve]") {
  TempDir dir;
  const auto keys = curve::generate();
  CHECK(curve::keyProblem(keys.public_key).empty());
  CHECK(curve::keyProblem(keys.secret_key).empty());
  CHECK(curve::publicOf(keys.secret_key) == keys.public_key);

  const std::string prefix = (dir / "site").string();
  REQUIRE(curve::writeKeyFiles(prefix, keys).empty());
  struct stat st {};
  REQUIRE(stat((prefix + ".key").c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  CHECK(test::readFile(prefix + ".pub") == keys.public_key + "\n");

  curve::KeyPair back;
  CHECK(curve::readSecretKeyFile(prefix + ".key", back).empty());
  CHECK(back.secret_key == keys.secret_key);
  CHECK(back.public_key == keys.public_key);

  // Never overwritten: the second call leaves the first keys in place.
  const auto other = curve::generate();
  CHECK(curve::writeKeyFiles(prefix, other).find("exists") != std::string::npos);
  CHECK(curve::readSecretKeyFile(prefix + ".key", back).empty());
  CHECK(back.secret_key == keys.secret_key);
}

TEST_CASE("a secret key file is refused with the line and reason", "[curve]") {
  TempDir dir;
  const auto keys = curve::generate();
  curve::KeyPair out;
  SECTION("readable by others") {
    auto f = dir.write("node.key", keys.secret_key + "\n");
    chmod(f.c_str(), 0644);
    CHECK(mentions(curve::readSecretKeyFile(f, out), 0, "readable by others"));
  }
  SECTION("not Z85") {
    auto f = secretFile(dir, "# comment\n\n" + std::string(40, '~') + "\n");
    CHECK(mentions(curve::readSecretKeyFile(f, out), 3, "not a Z85 character"));
  }
  SECTION("wrong length") {
    auto f = secretFile(dir, keys.secret_key.substr(1) + "\n");
    CHECK(mentions(curve::readSecretKeyFile(f, out), 1, "40 characters"));
  }
  SECTION("two keys") {
    auto f = secretFile(dir, keys.secret_key + "\n" + keys.secret_key + "\n");
    CHECK(mentions(curve::readSecretKeyFile(f, out), 2, "more than one key"));
  }
  SECTION("only comments") {
    auto f = secretFile(dir, "# nothing here\n");
    CHECK(mentions(curve::readSecretKeyFile(f, out), 0, "no key"));
  }
  SECTION("missing") {
    CHECK(mentions(curve::readSecretKeyFile(dir / "absent.key", out), 0, "cannot read"));
  }
}

TEST_CASE("allowed clients map keys to node names and refuse bad lines", "[curve]") {
  TempDir dir;
  const auto a = curve::generate(), b = curve::generate();
  curve::AllowedClients allowed;
  SECTION("good file with comments") {
    auto f = dir.write("clients", "# who may connect\nsite " + a.public_key + "\n\n  region\t" +
                                      b.public_key + "  \n");
    CHECK(curve::readAllowedClients(f, allowed).empty());
    CHECK(allowed.size() == 2);
    CHECK(allowed[a.public_key] == "site");
    CHECK(allowed[b.public_key] == "region");
  }
  SECTION("problems name their lines") {
    auto f = dir.write("clients", "site " + a.public_key + "\n" +          // 1 ok
                                      "lonely\n" +                         // 2 no key
                                      "bad/name " + b.public_key + "\n" +  // 3 bad node
                                      "site " + b.public_key + "\n" +      // 4 node twice
                                      "other " + a.public_key + "\n" +     // 5 key twice
                                      "short abc\n");                      // 6 bad key
    auto problems = curve::readAllowedClients(f, allowed);
    CHECK(problems.size() == 5);
    CHECK(mentions(problems, 2, "NODE PUBLIC-KEY"));
    CHECK(mentions(problems, 3, "not a valid node name"));
    CHECK(mentions(problems, 4, "listed twice (first at line 1)"));
    CHECK(mentions(problems, 5, "already listed for node 'site'"));
    CHECK(mentions(problems, 6, "40 characters"));
    CHECK(allowed.size() == 1);
  }
}
