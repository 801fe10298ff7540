// The desksend output: mail to users. For each report it writes one message per mail user
// into that user's Maildir and, when `smtp` is configured, sends one through the relay. What
// it finished is recorded per (channel, report, user) in a delivered-ids file, so a report
// redelivered after a crash reaches each user once per channel.
#pragma once

#include "common/role.h"
#include "config/config.h"
#include "outputs/delivered_ids.h"
#include "outputs/desksend/maildir.h"
#include "outputs/desksend/smtp.h"
#include "outputs/output.h"

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace reporthub::outputs::desksend {

int main(ChildContext& ctx);

// Where desksend records what it delivered.
std::filesystem::path deliveredIdsPath(const config::Config& cfg);

class Desksend final : public Output {
 public:
  struct Counters {
    std::uint64_t maildir = 0;   // messages published into Maildirs
    std::uint64_t smtp = 0;      // messages the relay accepted
    std::uint64_t skipped = 0;   // (channel, user) deliveries already done: redeliveries
    std::uint64_t rejected = 0;  // permanent refusals (bad user name, SMTP 5xx)
  };

  // Reads the SMTP password file, loads the delivered-ids file and finishes or removes
  // what a crashed predecessor left in tmp/. Throws std::runtime_error naming what failed.
  // `host` is the Maildir file names' host part.
  explicit Desksend(const config::Config& cfg, std::string host = Maildir::hostName());

  wire::Status deliver(const Report& r, const wire::Deliver& d, std::string& reason) override;
  wire::Status flush(std::string& reason) override;

  const Counters& counters() const { return counters_; }
  const SmtpClient* smtp() const { return smtp_.get(); }

 private:
  const config::DesksendOutput& cfg_;
  std::string from_;       // header From of Maildir messages
  std::string smtp_from_;  // header From of SMTP messages
  std::string domain_;     // for users without '@'
  Maildir maildir_;
  DeliveredIds delivered_;
  std::unique_ptr<SmtpClient> smtp_;
  Counters counters_;
  std::vector<std::string> maildir_keys_;  // keys of the messages staged in this batch
  bool maildir_failing_ = false;           // a Maildir error was logged; quiet until it heals
  bool smtp_failing_ = false;              // likewise for the relay
  std::set<std::string, std::less<>> bad_users_logged_;
};

}  // namespace reporthub::outputs::desksend
