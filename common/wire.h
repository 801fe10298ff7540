// The child protocol: what the hub and its input and output processes say to each other
// over ZeroMQ (DEALER in each child, ROUTER in the hub). Every message is a small msgpack
// envelope frame, optionally followed by one body frame: one encoded report, or the
// reports of a batch back to back. The envelope carries everything the hub routes on, so
// the hub never decodes a body. Batches carry the load: one message, one envelope decode
// and one wake-up for up to kMaxBatch reports instead of one for each.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace reporthub::wire {

constexpr std::uint8_t kVersion = 2;

// Largest envelope, report body and batch accepted; anything larger is refused before
// decoding. A sender closes a batch at kMaxBatch reports, once its bodies reach
// kBatchBodyBytes, or once its envelope may reach kBatchEnvelopeBytes (by batchBytes() of
// each element), so a batch body stays below kBatchBodyBytes + kMaxBodyBytes and a batch
// envelope below kMaxEnvelopeBytes.
constexpr std::size_t kMaxEnvelopeBytes = 1 << 20;
constexpr std::size_t kMaxBodyBytes = 64 * 1024;
constexpr std::size_t kMaxBatch = 1024;
constexpr std::size_t kBatchBodyBytes = 256 * 1024;
constexpr std::size_t kMaxBatchBodyBytes = kBatchBodyBytes + kMaxBodyBytes;
constexpr std::size_t kBatchEnvelopeBytes = 512 * 1024;

enum class Kind : std::uint8_t { input = 0, output = 1 };

// child -> hub, first message on a connection.
struct Hello {
  std::string role;  // registered role name: "local", "testproc", ...
  std::string id;    // instance name as supervised: "local", "testproc:crashy"
  std::int64_t pid = 0;
  Kind kind = Kind::input;
  std::uint32_t window = 0;  // outputs: deliveries it accepts in flight
};

// hub -> child, answer to Hello.
struct Welcome {
  std::uint64_t credit = 0;  // inputs: may send report seqs up to this
  bool desk_on = false;
};

// child -> hub: initialised and serving. The hub counts a child as up only after this.
struct Ready {};

// input -> hub, followed by the report body. A report from a remote node (ns_receive)
// names the recipient it is for on this node, and the nodes it passed through (the body's
// `via`): the hub routes it to that recipient without translating its category, and refuses
// to forward it again if it went round in a circle (DESIGN §2).
struct Submit {
  std::uint64_t seq = 0;  // per connection, from 1, consecutive
  std::string id;
  std::string category;
  std::string recipient;         // "" for a report that originates here
  std::vector<std::string> via;  // with `recipient`: the report's via
};

// input -> hub: reports seq, seq + 1, ... (each Submit's own seq is not sent), followed by
// one body frame holding their bodies back to back, sizes[i] bytes each.
struct SubmitBatch {
  std::uint64_t seq = 0;
  std::vector<Submit> reports;
  std::vector<std::uint32_t> sizes;
};

// hub -> input: every seq <= upto is accepted (journaled); may send up to `credit`.
// `refused` counts submissions in that range the hub would not take (malformed, oversized).
struct Ack {
  std::uint64_t upto = 0;
  std::uint64_t credit = 0;
  std::uint64_t refused = 0;
};

// One recipient a delivery is for, with its resolved parameters: mail users, or the node
// and its recipient there, so outputs need no routing table.
struct Target {
  std::string recipient;
  std::vector<std::string> params;
  bool operator==(const Target&) const = default;
};

// One delivery per report and output, naming every recipient of the report that this
// output serves.
struct Deliver {
  std::uint64_t seq = 0;  // hub journal sequence, increasing per output
  std::string id;
  std::vector<Target> targets;
};

// hub -> output: deliveries in seq order, followed by one body frame holding their report
// bodies back to back, sizes[i] bytes each.
struct DeliverBatch {
  std::vector<Deliver> deliveries;
  std::vector<std::uint32_t> sizes;
};

// At least the bytes one element adds to the envelope of its batch.
std::size_t batchBytes(const Submit& m);
std::size_t batchBytes(const Deliver& m);

// What to reserve for the bodies of a batch about to be gathered, whose message will take
// the buffer over (zmqu::take), after a batch of `last` body bytes. A busy sender fills its
// batches: room for a full one at once then, instead of copying as the buffer doubles; a
// quiet one sends a report or two per batch and reserves nothing.
constexpr std::size_t batchBodyReserve(std::size_t last) {
  return last >= kBatchBodyBytes / 4 ? kMaxBatchBodyBytes : 0;
}

enum class Status : std::uint8_t { ok = 0, retry = 1, failed = 2 };

// output -> hub: every delivery with seq <= upto succeeded. If status is retry or failed,
// delivery `seq` (the next after upto) did not, for `reason`; the hub owns what follows.
struct Result {
  std::uint64_t upto = 0;
  Status status = Status::ok;
  std::uint64_t seq = 0;
  std::string reason;
};

// hub -> child: "deskon", "deskoff"; "flush" (DMStop stage 2) tells an output that holds
// deliveries back (a printer's batch interval) to stop holding: nothing more is coming.
// Children also take "stop" as SIGTERM's equivalent, for programs that cannot use signals;
// the hub itself stops children with SIGTERM.
struct Control {
  std::string command;
};

using Envelope =
    std::variant<Hello, Welcome, Ready, Submit, Ack, DeliverBatch, Result, Control, SubmitBatch>;

// Whether an envelope of this type is followed by a body frame.
bool hasBody(const Envelope& e);

// Splits a batch's body frame into its reports' bodies; false if the sizes do not add up
// to the frame exactly.
bool splitBodies(std::string_view frame, const std::vector<std::uint32_t>& sizes,
                 std::vector<std::string_view>& out);

std::string encode(const Envelope& e);
// The same, into a per-thread buffer that the next call reuses: for hot paths that copy
// the bytes into a message at once.
std::string_view encodeView(const Envelope& e);
// Batches, without copying them into an Envelope first.
std::string_view encodeView(const SubmitBatch& m);
std::string_view encodeView(const DeliverBatch& m);

// Decodes one envelope frame. Returns "" or why it was refused; never throws.
std::string decode(std::string_view bytes, Envelope& out);

std::string_view name(const Envelope& e);

}  // namespace reporthub::wire
