// The reporthub command: run the hub, check a config, dry-run routing, and the hidden
// `child` entry through which the hub starts its input and output processes.
#include "common/curve.h"
#include "common/file_io.h"
#include "common/lock.h"
#include "common/log.h"
#include "common/role.h"
#include "config/config.h"
#include "hub/hub.h"
#include "inputs/registry.h"
#include "outputs/registry.h"
#include "routing/router.h"

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <system_error>

namespace rh = reporthub;

namespace {

constexpr int kExitOk = 0, kExitFailure = 1, kExitUsage = 2, kExitActive = 3, kExitRefused = 5;

int printProblems(const rh::config::ConfigError& e) {
  for (const auto& p : e.problems())
    std::cerr << p.str() << '\n';
  return kExitUsage;
}

int cmdRun(const std::string& file) {
  std::string text;
  std::filesystem::path state_dir;
  try {
    text = rh::config::readFile(file);
    state_dir = rh::config::locate(text, file).state_dir;
  } catch (const rh::config::ConfigError& e) {
    return printProblems(e);
  }
  // DESIGN §1: the lock comes before anything else; only its directory must exist first.
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    std::cerr << "reporthub: mkdir " << state_dir.string() << ": " << ec.message() << '\n';
    return kExitFailure;
  }
  const auto lock_path = state_dir / "hub.lock";
  std::optional<rh::ExclusiveLock> lock;
  try {
    lock = rh::ExclusiveLock::acquire(lock_path);
  } catch (const std::system_error& e) {
    std::cerr << "reporthub: " << e.what() << '\n';
    return kExitFailure;
  }
  if (!lock) {
    auto holder = rh::ExclusiveLock::holder(lock_path);
    std::cerr << "reporthub: another hub is already active (pid " << (holder ? holder->pid : 0)
              << ", lock " << lock_path.string() << ")\n";
    return kExitActive;
  }
  rh::config::Config cfg;
  try {
    cfg = rh::config::loadFromString(text, file);
  } catch (const rh::config::ConfigError& e) {
    return printProblems(e);
  }
  rh::setupLogging("hub", cfg.hubLogPath());
  try {
    rh::hub::Hub hub(std::move(cfg), std::move(text), std::move(*lock));
    return hub.run();
  } catch (const std::system_error& e) {
    spdlog::critical("start-up failed: {}; the hub exits", e.what());
    return kExitFailure;
  } catch (const std::exception& e) {
    // Run-time faults are handled where they happen; reaching here is a bug, and the next
    // start recovers from the journal.
    spdlog::critical("hub failed: {}; the hub exits (the next start replays the journal)",
                     e.what());
    return kExitFailure;
  }
}

int cmdCheckConfig(const std::string& file) {
  try {
    auto cfg = rh::config::load(file);
    std::cout << cfg.file.string() << ": ok (node " << cfg.node << ")\n";
    return kExitOk;
  } catch (const rh::config::ConfigError& e) {
    return printProblems(e);
  }
}

int cmdRoute(const std::string& file, const std::string& category) {
  rh::config::Config cfg;
  try {
    cfg = rh::config::load(file);
  } catch (const rh::config::ConfigError& e) {
    return printProblems(e);
  }
  rh::routing::Router router(cfg);
  bool is_default = false;
  const auto& route = router.route(category, is_default);
  if (is_default) std::cout << "category '" << category << "' is not configured: using default\n";
  for (const auto& name : route.recipients) {
    const auto* r = router.recipient(name);
    const auto& d = r->sinks.front();
    std::cout << name << " -> " << rh::routing::toString(d.sink);
    const auto& params = d.targets.front().params;
    if (d.sink == rh::routing::Sink::desksend) {
      std::cout << " (mail:";
      for (const auto& u : params)
        std::cout << ' ' << u;
      std::cout << ')';
    } else if (d.sink == rh::routing::Sink::ns_send) {
      std::cout << " (node " << params[0] << ", recipient " << params[1] << ')';
    }
    std::cout << '\n';
  }
  return kExitOk;
}

// Writes a CURVE key pair for hub-to-hub links: PREFIX.key stays on this node (the
// ns_receive curve.secret_key or outputs.ns_send.secret_key); PREFIX.pub goes to the peers.
int cmdKeygen(const std::string& prefix) {
  rh::curve::KeyPair keys;
  try {
    keys = rh::curve::generate();
  } catch (const std::exception& e) {
    std::cerr << "reporthub: " << e.what() << '\n';
    return kExitFailure;
  }
  if (auto err = rh::curve::writeKeyFiles(prefix, keys); !err.empty()) {
    std::cerr << "reporthub: " << err << '\n';
    return err.ends_with("not overwritten") ? kExitRefused : kExitFailure;
  }
  std::cout << "wrote " << prefix << ".key (secret, mode 0600) and " << prefix
            << ".pub (public)\npublic key: " << keys.public_key << '\n';
  return kExitOk;
}

const rh::RoleInfo* findRole(const std::string& name) {
  for (const auto& r : rh::inputs::registry()) {
    if (r.name == name) return &r;
  }
  for (const auto& r : rh::outputs::registry()) {
    if (r.info.name == name) return &r.info;
  }
  return nullptr;
}

std::string knownRoles() {
  std::string out;
  for (const auto& r : rh::inputs::registry())
    out += (out.empty() ? "" : ", ") + std::string(r.name);
  for (const auto& r : rh::outputs::registry())
    out += (out.empty() ? "" : ", ") + std::string(r.info.name);
  return out;
}

int cmdChild(const std::string& role, const std::string& hub, const std::string& id,
             const std::string& file, int config_fd, const std::vector<std::string>& args) {
  const rh::RoleInfo* info = findRole(role);
  if (!info) {
    std::cerr << "reporthub: unknown role '" << role << "' (known: " << knownRoles() << ")\n";
    return kExitUsage;
  }
  std::string text;
  try {
    if (config_fd >= 0) {
      // The hub's sealed copy of the config it validated, shared by every child: pread.
      if (!rh::readFrom(config_fd, 0, text)) {
        throw std::system_error(errno, std::generic_category(), "read config fd");
      }
      close(config_fd);
    } else {
      text = rh::config::readFile(file);
    }
    auto cfg = rh::config::loadFromString(text, file);
    rh::setupLogging(id, cfg.hubLogPath());
    zmq::context_t ctx(1);
    rh::ChildContext cc{cfg, role, id, hub, args, ctx};
    return info->main(cc);
  } catch (const rh::config::ConfigError& e) {
    return printProblems(e);
  } catch (const std::exception& e) {
    spdlog::critical("{}; exiting (the hub restarts it per its restart policy)", e.what());
    return kExitFailure;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Batches of up to 320 KiB are allocated and freed for every ZeroMQ message. With glibc's
  // defaults such a free shrank the heap and the next batch faulted its pages in afresh:
  // 20,000 page faults a second in ds_receive at full rate, memory zeroed for nothing. Large
  // blocks stay in the heap (up to 4 MiB each) and a free heap top is kept (up to 64 MiB).
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);

  CLI::App app{"reporthub: a message-routing reporting hub"};
  app.require_subcommand(1);
  std::string file;

  auto* run = app.add_subcommand("run", "start the hub as a job, in the foreground");
  run->add_option("-c,--config", file, "config file")->required();

  auto* check =
      app.add_subcommand("check-config", "validate a config; print FILE:LINE:COL problems");
  check->add_option("-c,--config", file, "config file")->required();

  std::string category;
  auto* route = app.add_subcommand("route", "print the recipients a category reaches (dry run)");
  route->add_option("-c,--config", file, "config file")->required();
  route->add_option("category", category, "report category")->required();

  std::string prefix = "reporthub";
  auto* keygen = app.add_subcommand(
      "keygen", "write a CURVE key pair for hub-to-hub links: PREFIX.key and PREFIX.pub");
  keygen->add_option("-o,--output", prefix, "file name prefix (default: reporthub)");

  std::string role, hub, id;
  int config_fd = -1;
  std::vector<std::string> child_args;
  auto* child = app.add_subcommand("child", "run one input or output role (started by the hub)");
  child->group("");  // internal: not listed in --help
  child->add_option("role", role)->required();
  child->add_option("--hub", hub)->required();
  child->add_option("--id", id)->required();
  child->add_option("--config", file)->required();
  child->add_option("--config-fd", config_fd);
  child->add_option("args", child_args);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  if (*run) return cmdRun(file);
  if (*check) return cmdCheckConfig(file);
  if (*route) return cmdRoute(file, category);
  if (*keygen) return cmdKeygen(prefix);
  if (*child) return cmdChild(role, hub, id.empty() ? role : id, file, config_fd, child_args);
  return kExitUsage;
}
