// Delivery into users' Maildirs (<root>/<user>/{tmp,new,cur}) in two steps, so desksend can
// record what it delivered between them: stage() writes each message into tmp/, sync() makes
// the staged data durable, publish() renames the files into new/ and makes the renames
// durable. File names derive from the report id, so a redelivery rewrites the same name.
#pragma once

#include "common/report.h"

#include <sys/types.h>

#include <cstddef>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace reporthub::outputs::desksend {

class Maildir {
 public:
  // `root` is created at first use; `host` goes into file names (the Maildir convention's
  // third part: this machine's name).
  Maildir(std::filesystem::path root, std::string host);
  ~Maildir();
  Maildir(const Maildir&) = delete;
  Maildir& operator=(const Maildir&) = delete;

  // "<seconds of the report time>.rh_<encoded report id>.<host>": unique per report in a
  // user's Maildir, and the same on every redelivery.
  std::string fileName(const Report& r) const;
  // The report id a file name of ours carries; nullopt for any other name (another mail
  // program's files in the same Maildir are never touched).
  static std::optional<std::string> idOfFileName(std::string_view name);
  // The machine's host name as the Maildir convention writes it ('/' and ':' escaped).
  static std::string hostName();

  // Writes `message` to <root>/<user>/tmp/<name>, creating the directories (0700) as
  // needed; the file (0600) waits for sync() and publish(). `user` must have passed
  // config::mailUserProblem(). When run as root, new files and directories go to the owner of the
  // user's directory. False with `error` (naming the call and path) on failure.
  bool stage(const std::string& user, const std::string& name, std::string_view message,
             std::string& error);
  // Whether this file is staged in the current batch.
  bool isStaged(const std::string& user, const std::string& name) const;
  // Whether tmp/ holds this file: a batch that was recorded but not published.
  bool inTmp(const std::string& user, const std::string& name) const;
  std::size_t stagedCount() const { return staged_.size(); }

  // Makes every staged file's data durable: fdatasync each when there are few, else one
  // syncfs per filesystem (tens of times cheaper for a large batch).
  bool sync(std::string& error);
  // Renames the staged files into new/ and makes the renames durable. On failure the files
  // not yet renamed stay in tmp/ (inTmp) and the batch is forgotten.
  bool publish(std::string& error);
  // Forgets the staged files; they stay in tmp/ until rewritten by a redelivery or swept.
  void discard();

  // For each user, the files of ours left in tmp/ by an earlier process: moved into new/ if
  // `recorded(user, id)` (the delivery was recorded, only the rename was missing), else
  // removed (never recorded: the hub redelivers it). Returns {moved, removed}.
  std::pair<std::size_t, std::size_t> sweep(
      const std::vector<std::string>& users,
      const std::function<bool(const std::string& user, const std::string& id)>& recorded);

  const std::filesystem::path& root() const { return root_; }

 private:
  struct UserDir {
    std::filesystem::path dir;
    uid_t uid = 0;
    gid_t gid = 0;
    bool chown = false;  // running as root and the directory belongs to someone else
    dev_t dev = 0;
  };
  struct Staged {
    std::string user;
    std::string name;
    int fd = -1;  // kept open for fdatasync while the batch is small
  };

  const UserDir* prepare(const std::string& user, std::string& error);
  bool syncFilesystems(const std::vector<const UserDir*>& dirs, std::string& error);
  void closeStaged();

  std::filesystem::path root_;
  std::string host_;
  std::map<std::string, UserDir, std::less<>> users_;  // directories known to exist
  std::vector<Staged> staged_;
  std::unordered_set<std::string> staged_names_;  // "user/name" of each staged file
  bool all_open_ = true;                          // every staged file still has its descriptor
};

}  // namespace reporthub::outputs::desksend
