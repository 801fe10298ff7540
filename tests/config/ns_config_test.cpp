// Config tests for hub-to-hub links: inputs.ns_receive, outputs.ns_send and nodes. Key files
// are read at load, so a bad key is a config error at the key's line and column, naming the
// line of the key file.
#include "common/curve.h"
#include "config/config.h"

#include "tests/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <sys/stat.h>

namespace fs = std::filesystem;
using namespace reporthub;
using namespace reporthub::config;
using reporthub::test::TempDir;

namespace {

struct Loaded {
  std::optional<Config> cfg;
  std::vector<Problem> problems;
};

Loaded loadIn(const TempDir& dir, const std::string& yaml) {
  const fs::path file = dir.write("hub.yaml", yaml);
  Loaded out;
  try {
    out.cfg = load(file);
  } catch (const ConfigError& e) {
    out.problems = e.problems();
  }
  return out;
}

bool has(const Loaded& l, int line, int column, const std::string& text) {
  for (const Problem& p : l.problems) {
    if (p.line == line && p.column == column && p.message.find(text) != std::string::npos)
      return true;
  }
  return false;
}

std::string listed(const Loaded& l) {
  std::string out;
  for (const Problem& p : l.problems)
    out += "\n  " + p.str();
  return out;
}

// A key pair written as keygen does, under `dir`/`name`.{key,pub}.
curve::KeyPair keyFiles(const TempDir& dir, const std::string& name) {
  auto keys = curve::generate();
  REQUIRE(curve::writeKeyFiles((dir / name).string(), keys).empty());
  return keys;
}

}  // namespace

TEST_CASE("a full NS config loads with its keys and settings", "[config][ns]") {
  TempDir dir;
  const auto hq = keyFiles(dir, "hq");
  const auto site = keyFiles(dir, "site");
  dir.write("clients", "# allowed\nsite " + site.public_key + "\n");
  auto l = loadIn(dir,
                  "node: hq\n"
                  "inputs:\n"
                  "  ns_receive:\n"
                  "    listen: tcp://127.0.0.1:7410\n"
                  "    curve: { secret_key: hq.key, allowed_clients: clients }\n"
                  "    max_rate: 5000\n"
                  "outputs:\n"
                  "  ns_send: { secret_key: site.key, heartbeat: 200ms, timeout: 3s }\n"
                  "nodes:\n"
                  "  region: { address: 'tcp://127.0.0.1:7411', public_key: '" +
                      hq.public_key +
                      "' }\n"
                      "recipients:\n"
                      "  operator: local\n"
                      "  up: { node: region, recipient: operator }\n"
                      "categories:\n"
                      "  DISK: [operator, up]\n");
  INFO(listed(l));
  REQUIRE(l.cfg);
  const auto& in = *l.cfg->inputs.ns_receive;
  CHECK(in.listen == "tcp://127.0.0.1:7410");
  REQUIRE(in.curve);
  CHECK(in.curve->secret_key == dir / "hq.key");
  CHECK(in.curve->allowed_clients == dir / "clients");
  CHECK(in.max_rate == 5000);
  CHECK(l.cfg->outputs.ns_send.secret_key == dir / "site.key");
  CHECK(l.cfg->outputs.ns_send.heartbeat == std::chrono::milliseconds(200));
  CHECK(l.cfg->outputs.ns_send.timeout == std::chrono::seconds(3));
  CHECK(l.cfg->nodes.at("region").public_key == hq.public_key);
}

TEST_CASE("NS config problems are reported where they are", "[config][ns]") {
  TempDir dir;
  const auto keys = keyFiles(dir, "node");
  SECTION("a receiver without listen") {
    auto l = loadIn(dir, "node: a\ninputs:\n  ns_receive: { max_rate: 10 }\n");
    CHECK(has(l, 3, 15, "missing required key 'listen'"));
  }
  SECTION("listen without a port") {
    auto l = loadIn(dir, "node: a\ninputs:\n  ns_receive: { listen: 'tcp://0.0.0.0' }\n");
    CHECK(has(l, 3, 25, "expected tcp://HOST:PORT"));
  }
  SECTION("a secret key file others can read") {
    chmod((dir / "node.key").c_str(), 0644);
    auto l = loadIn(dir,
                    "node: a\ninputs:\n  ns_receive:\n    listen: tcp://127.0.0.1:1\n"
                    "    curve:\n      secret_key: node.key\n      allowed_clients: node.pub\n");
    INFO(listed(l));
    CHECK(has(l, 6, 19, "node.key: secret key file is readable by others (mode 0644)"));
  }
  SECTION("an allowed-clients line without a node") {
    auto l = loadIn(dir,
                    "node: a\ninputs:\n  ns_receive:\n    listen: tcp://127.0.0.1:1\n"
                    "    curve:\n      secret_key: node.key\n      allowed_clients: node.pub\n");
    INFO(listed(l));
    CHECK(has(l, 7, 24, "node.pub:1: expected 'NODE PUBLIC-KEY'"));
  }
  SECTION("an empty allowed-clients file") {
    dir.write("none", "# nobody yet\n");
    auto l = loadIn(dir,
                    "node: a\ninputs:\n  ns_receive:\n    listen: tcp://127.0.0.1:1\n"
                    "    curve: { secret_key: node.key, allowed_clients: none }\n");
    INFO(listed(l));
    CHECK(has(l, 5, 53, "no clients listed"));
  }
  SECTION("a missing ns_send key file") {
    auto l = loadIn(dir, "node: a\noutputs:\n  ns_send: { secret_key: absent.key }\n");
    CHECK(has(l, 3, 26, "absent.key: cannot read"));
  }
  SECTION("a pinned key that is not Z85") {
    auto l = loadIn(dir,
                    "node: a\noutputs:\n  ns_send: { secret_key: node.key }\nnodes:\n"
                    "  hq: { address: 'tcp://h:1', public_key: 'short' }\n");
    CHECK(has(l, 5, 43, "nodes.hq.public_key: a CURVE key is 40 characters"));
  }
  SECTION("a pinned key without this node's own key") {
    auto l = loadIn(dir, "node: a\nnodes:\n  hq: { address: 'tcp://h:1', public_key: '" +
                             keys.public_key + "' }\n");
    CHECK(has(l, 2, 1, "outputs.ns_send.secret_key must name"));
  }
}
