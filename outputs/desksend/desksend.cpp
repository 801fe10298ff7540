// The desksend output; see desksend.h and README.md (why the delivered-ids file is written
// between a batch's tmp/ files and their rename into new/).
#include "outputs/desksend/desksend.h"

#include "outputs/desksend/message.h"

#include <curl/curl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace reporthub::outputs::desksend {

namespace {

std::string readPassword(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  if (!in || !(ss << in.rdbuf())) {
    throw std::runtime_error("cannot read outputs.desksend.smtp.password_file " + file.string() +
                             ": " + strerror(errno));
  }
  // The first line: editors and `echo` add a newline that is no part of the password.
  std::string pw = ss.str();
  pw.resize(std::min(pw.size(), pw.find_first_of("\r\n")));
  return pw;
}

std::vector<std::string> mailUsers(const config::Config& cfg) {
  std::vector<std::string> users;
  std::set<std::string> seen;
  for (const auto& [name, recipient] : cfg.recipients) {
    if (const auto* m = std::get_if<config::MailRecipient>(&recipient)) {
      for (const auto& u : m->users) {
        if (config::mailUserProblem(u).empty() && seen.insert(u).second) users.push_back(u);
      }
    }
  }
  return users;
}

// Keys of the delivered-ids file: one per channel, report and user. Ids hold no spaces
// and user names are checked, so a space separates them unambiguously.
std::string key(char channel, std::string_view id, std::string_view user) {
  std::string k;
  k.reserve(id.size() + user.size() + 4);
  k += channel;
  k += ' ';
  k += id;
  k += ' ';
  k += user;
  return k;
}

}  // namespace

std::filesystem::path deliveredIdsPath(const config::Config& cfg) {
  return cfg.state_dir / "desksend.delivered";
}

Desksend::Desksend(const config::Config& cfg, std::string host)
    : cfg_(cfg.outputs.desksend.value()),
      from_(cfg_.from.empty() ? "reporthub@" + cfg.node : cfg_.from),
      smtp_from_(cfg_.smtp && !cfg_.smtp->from.empty() ? cfg_.smtp->from : from_),
      domain_(cfg_.smtp && !cfg_.smtp->domain.empty() ? cfg_.smtp->domain : cfg.node),
      maildir_(cfg_.maildir, std::move(host)),
      delivered_((std::filesystem::create_directories(cfg.state_dir), deliveredIdsPath(cfg))) {
  if (cfg_.smtp) {
    SmtpOptions o;
    o.url = cfg_.smtp->url;
    o.mail_from = bareAddress(smtp_from_);
    o.tls = cfg_.smtp->tls;
    o.user = cfg_.smtp->user;
    if (!cfg_.smtp->password_file.empty()) o.password = readPassword(cfg_.smtp->password_file);
    o.timeout = cfg_.smtp->timeout;
    o.ca_file = cfg_.smtp->ca_file.string();
    smtp_ = std::make_unique<SmtpClient>(std::move(o));
  }
  // What a predecessor staged and recorded but did not rename is delivered now; what it
  // staged without recording is removed, and comes again from the hub.
  const auto [moved, removed] =
      maildir_.sweep(mailUsers(cfg), [&](const std::string& user, const std::string& id) {
        return delivered_.contains(key('m', id, user));
      });
  if (moved > 0 || removed > 0) {
    spdlog::warn(
        "an earlier desksend stopped in the middle of a batch: {} message(s) it had "
        "recorded moved from tmp/ into new/, {} unrecorded one(s) removed from tmp/ "
        "(the hub delivers those again)",
        moved, removed);
  }
  spdlog::info(
      "delivering to Maildirs under {}{}; {} delivered (channel, report, user) keys "
      "loaded from {}",
      cfg_.maildir.string(), smtp_ ? " and through SMTP relay " + smtp_->url() : "",
      delivered_.loaded(), delivered_.file().string());
}

wire::Status Desksend::deliver(const Report& r, const wire::Deliver& d, std::string& reason) {
  wire::Status result = wire::Status::ok;
  const auto worse = [&](wire::Status st, const std::string& why) {
    // retry outranks failed: the hub then sends the report again, and the users already
    // served are skipped by their keys.
    if (st == wire::Status::retry && result != wire::Status::retry) {
      result = st;
      reason = why;
    } else if (st == wire::Status::failed && result == wire::Status::ok) {
      result = st;
      reason = why;
    }
  };
  bool smtp_down = false;  // one refused connection per report is enough
  std::set<std::string_view> users;
  for (const auto& target : d.targets) {
    for (const auto& user : target.params) {
      if (!users.insert(user).second) continue;  // one message per user, however reached
      if (const auto why = config::mailUserProblem(user); !why.empty()) {
        ++counters_.rejected;
        const std::string msg = "mail user '" + user + "' of recipient '" + target.recipient +
                                "' cannot be delivered to: " + why;
        if (bad_users_logged_.insert(user).second) {
          spdlog::error("{}; its messages are not delivered (counted as failed)", msg);
        }
        worse(wire::Status::failed, msg);
        continue;
      }
      const std::string to = mailAddress(user, domain_);
      std::string message;  // built once, for whichever channel needs it first

      const std::string name = maildir_.fileName(r);
      const std::string mkey = key('m', r.id, user);
      if (maildir_.isStaged(user, name) ||
          (delivered_.contains(mkey) && !maildir_.inTmp(user, name))) {
        ++counters_.skipped;
      } else {
        message = formatMessage(r, from_, to);
        std::string error;
        if (maildir_.stage(user, name, message, error)) {
          // Recorded only once the file is durable (flush): the key must never count
          // while the message could still be lost.
          maildir_keys_.push_back(mkey);
        } else {
          const std::string why = "Maildir of " + user + ": " + error;
          if (!maildir_failing_) {
            spdlog::error(
                "cannot deliver report {} to the {}; the hub will retry it (it waits "
                "in the journal)",
                r.id, why);
          }
          maildir_failing_ = true;
          worse(wire::Status::retry, why);
        }
      }

      if (!smtp_) continue;
      const std::string skey = key('s', r.id, user);
      if (delivered_.contains(skey)) {
        ++counters_.skipped;
        continue;
      }
      if (smtp_down) continue;
      if (message.empty() || smtp_from_ != from_) message = formatMessage(r, smtp_from_, to);
      const SmtpOutcome out = smtp_->send(to, message);
      if (out.status == wire::Status::ok) {
        // Recorded and synced at once, not with the batch: the relay has the message, and a
        // crash before the record is durable means the hub sends it again. One fdatasync
        // per message keeps that window to this one message.
        delivered_.add(skey);
        std::string error;
        if (!delivered_.commit(error)) {
          spdlog::error(
              "{}; the message for report {} to {} was sent but is not recorded, and "
              "is sent again if the hub redelivers the report",
              error, r.id, to);
        }
        ++counters_.smtp;
        if (smtp_failing_) spdlog::info("SMTP relay {} accepts mail again", smtp_->url());
        smtp_failing_ = false;
      } else if (out.status == wire::Status::failed) {
        ++counters_.rejected;
        spdlog::error(
            "SMTP: mail for report {} to {} refused for good: {}; not retried "
            "(counted as failed)",
            r.id, to, out.reason);
        worse(wire::Status::failed, "SMTP to " + to + ": " + out.reason);
      } else {
        if (!smtp_failing_) {
          spdlog::warn(
              "SMTP: cannot send mail for report {} to {}: {}; the hub will retry "
              "(mail reports wait in the journal)",
              r.id, to, out.reason);
        }
        smtp_failing_ = true;
        smtp_down = true;
        worse(wire::Status::retry, "SMTP to " + to + ": " + out.reason);
      }
    }
  }
  return result;
}

wire::Status Desksend::flush(std::string& reason) {
  // Order matters for exactly-once: (1) the tmp/ files are durable, (2) their keys are
  // durable, (3) the files move into new/. A crash before (2) leaves unrecorded tmp/ files
  // that are rewritten on redelivery; a crash after (2) leaves recorded ones that the next
  // start moves into new/, while the redelivery skips them by key. (The relay's messages
  // were recorded one by one in deliver.)
  std::string error;
  const std::size_t staged = maildir_keys_.size();
  const bool synced = maildir_.sync(error);
  if (synced) {
    for (const auto& k : maildir_keys_)
      delivered_.add(k);
  } else {
    reason = "Maildir: " + error;
    maildir_.discard();
  }
  maildir_keys_.clear();
  std::string commit_error;
  if (!delivered_.commit(commit_error)) {
    maildir_.discard();
    if (reason.empty()) reason = commit_error;
  } else if (synced && !maildir_.publish(error)) {
    reason = "Maildir: " + error;
  } else if (synced) {
    counters_.maildir += staged;
    maildir_failing_ = false;
    return wire::Status::ok;
  }
  if (!maildir_failing_) spdlog::error("{}; the hub will retry this batch", reason);
  maildir_failing_ = true;
  return wire::Status::retry;
}

int main(ChildContext& ctx) {
  if (!ctx.config.outputs.desksend) {
    spdlog::critical("outputs.desksend is not in the config; exiting");
    return 2;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    throw std::runtime_error("curl_global_init failed");
  }
  int rc = 0;
  {
    Desksend output(ctx.config);
    // A smaller window than local's: a batch of mail (half the window) is made durable with
    // a handful of syncs either way, and DeskOff, which lets desksend finish what it has
    // received, should not wait for a thousand SMTP transactions.
    rc = runOutput(ctx, output, 256);
    const auto& c = output.counters();
    spdlog::info(
        "{} message(s) into Maildirs, {} by SMTP{}; {} user deliveries skipped as "
        "already done; {} refused for good",
        c.maildir, c.smtp,
        output.smtp() ? " over " + std::to_string(output.smtp()->connections()) + " connection(s)"
                      : "",
        c.skipped, c.rejected);
  }
  curl_global_cleanup();
  return rc;
}

}  // namespace reporthub::outputs::desksend
