// What ds_receive does with one syslog message: parse, map by the rules, encode as a report
// and submit it. The role hands it a Submitter over its hub link; the benchmark and tests
// hand it one that counts or keeps, so the whole path is measured and tested without a hub.
#pragma once

#include "config/config.h"
#include "inputs/ds_receive/mapper.h"
#include "inputs/ds_receive/parser.h"
#include "inputs/ds_receive/report_body.h"
#include "inputs/ds_receive/server.h"

#include <string>
#include <string_view>

namespace reporthub::inputs::ds_receive {

class Submitter {
 public:
  virtual ~Submitter() = default;
  // Whether submit() would send at once (the hub has granted credit).
  virtual bool hasCredit() = 0;
  // One encoded report (common/report.h's format) with its id and category.
  virtual void submit(std::string_view id, std::string_view category, std::string_view body) = 0;
};

class Ingest : public MessageSink {
 public:
  // Throws std::invalid_argument if a rule's pattern does not compile.
  Ingest(const config::DsReceiveInput& cfg, std::string node, Submitter& out);

  bool accepting() override { return out_.hasCredit(); }
  const char* message(std::string_view msg, std::string_view peer,
                      std::int64_t received_ns) override;

  std::uint64_t submitted() const { return submitted_; }

 private:
  Mapper mapper_;
  std::string node_;
  Submitter& out_;
  LocalTime local_;
  SyslogMessage parsed_;
  ReportBody body_;
  std::string id_;  // of the report being made
  std::uint64_t submitted_ = 0;
};

}  // namespace reporthub::inputs::ds_receive
