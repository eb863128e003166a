// NatsCodec: the bytes partyline puts on NATS and reads back, without nats.c.
//
// It provides the header names partyline writes and reads, the Pl-Exclude list, the LogEntry a
// stored message's headers and data make, JetStream's time stamps, and the PubAck that answers
// a publish with what it means for that publish. NatsBus and NatsKeyValue read the headers out
// of nats.c's messages and hand them here.
//
// It must not call nats.c or keep any state: every function is pure, so the unit tests and the
// fuzz target (tests/fuzz/bus/NatsCodecFuzz) run it without a server.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/Bus.h"
#include "bus/KeyValue.h"
#include "core/Status.h"

namespace partyline {

inline constexpr const char* kHeaderMsgId = "Nats-Msg-Id";
inline constexpr const char* kHeaderExpectedLastSubjectSeq = "Nats-Expected-Last-Subject-Sequence";
inline constexpr const char* kHeaderSequence = "Nats-Sequence";
inline constexpr const char* kHeaderLastSequence = "Nats-Last-Sequence";
inline constexpr const char* kHeaderTimeStamp = "Nats-Time-Stamp";
inline constexpr const char* kHeaderStatus = "Status";
inline constexpr const char* kHeaderBinary = "Pl-Binary";
inline constexpr const char* kHeaderExclude = "Pl-Exclude";
// Unix ns when the publisher first sent the write (re-sends keep it): JetStream 2.9 republishes no
// time stamp, and delivery latency is measured from the publish.
inline constexpr const char* kHeaderPublished = "Pl-Published";

// JetStream's error code when Nats-Expected-Last-Subject-Sequence (or "no
// message yet") did not match: the compare of a compare-and-set failed.
inline constexpr int kJsErrWrongLastSequence = 10071;
// JetStream's error code for a message over the stream's or server's size limit.
inline constexpr int kJsErrMessageTooLarge = 10054;
// JetStream's error code for a stream configuration it refuses (nats-server 2.9: "can not
// change RePublish" on an update).
inline constexpr int kJsErrStreamInvalidConfig = 10052;
// JetStream's error code while its cluster cannot answer ("JetStream system temporarily
// unavailable").
inline constexpr int kJsErrClusterNotAvailable = 10008;
// JetStream's error code when a message get finds no message.
inline constexpr int kJsErrNoMessageFound = 10037;

// Decimal digits only, the whole text.
std::optional<uint64_t> parseUint(std::string_view text);

// "2026-11-23T18:53:17.198725222Z" (what JetStream writes) to unix ns; 0 if unreadable or
// outside what int64 nanoseconds hold (years 1678 to 2262).
int64_t parseTimeStamp(std::string_view text);

// Connection ids in Pl-Exclude: ',' separates them, '%' escapes, and bytes that would break or
// be trimmed from a header line are escaped too. No ids encode as "", which is no header (so
// does a single empty id: connection ids are never empty).
std::string encodeExclude(const std::vector<std::string>& ids);
// Reads what encodeExclude wrote; a '%' not followed by two hex digits stands for itself.
std::vector<std::string> decodeExclude(std::string_view text);

// A NATS header block as the protocol carries it ("NATS/1.0\r\n", "Name: value\r\n" per pair
// with a value, "\r\n"), the headers of an HPUB. A CR or LF in a value becomes a space, as
// nats.c's own encoder does.
std::string encodeHeaderBlock(std::initializer_list<std::pair<std::string_view, std::string_view>> headers);

// The headers of a stored message that a LogEntry is made from (nullopt: the message has none).
// A republished (live) and a directly fetched message both carry them.
struct EntryHeaders {
    std::optional<std::string_view> sequence;      // Nats-Sequence
    std::optional<std::string_view> lastSequence;  // Nats-Last-Sequence
    std::optional<std::string_view> timeStamp;     // Nats-Time-Stamp
    std::optional<std::string_view> msgId;         // Nats-Msg-Id
    std::optional<std::string_view> binary;        // Pl-Binary
    std::optional<std::string_view> exclude;       // Pl-Exclude
    std::optional<std::string_view> published;     // Pl-Published
};

// The entry, or Code::Internal when the message has no readable stream sequence. Other headers
// that do not read are left at the entry's defaults.
Result<LogEntry> decodeEntry(const EntryHeaders& headers, std::string_view data);

// The headers of a key-value bucket's stored message: a Direct Get answer, or a change the
// bucket republished once stored (both carry them).
struct KvHeaders {
    std::optional<std::string_view> sequence;   // Nats-Sequence: the change's revision
    std::optional<std::string_view> subject;    // Nats-Subject: $KV.<bucket>.<key>
    std::optional<std::string_view> operation;  // KV-Operation: DEL or PURGE on a delete marker
};
inline constexpr const char* kHeaderSubject = "Nats-Subject";
inline constexpr const char* kHeaderStream = "Nats-Stream";
inline constexpr const char* kHeaderKvOperation = "KV-Operation";

// One stored change of a bucket and where it sits in the bucket's stream.
struct KvChangeAt {
    uint64_t seq = 0;
    KvChange change;  // Put or Delete, with the key (the subject after `subjectPrefix`) and revision
};

// The change a stored message of the bucket whose subjects are `subjectPrefix` + key
// ("$KV.<bucket>.") makes. Code::Internal when the message has no readable sequence, or no
// subject of the bucket with a key after the prefix.
Result<KvChangeAt> decodeKvChange(std::string_view subjectPrefix, const KvHeaders& headers,
                                  std::string_view data);

// The few fields of a JetStream PubAck: {"stream":"S","seq":5,"duplicate":true} or
// {"error":{"code":400,"err_code":10071,"description":"..."},...}.
struct PubAck {
    uint64_t seq = 0;
    bool duplicate = false;  // the stream held this message id already
    bool error = false;
    int code = 0;
    int errCode = 0;
    std::string description;
};

// The PubAck in `json`; nullopt when it is not JSON, or neither an error nor a positive seq.
std::optional<PubAck> parsePubAck(std::string_view json);

// The stored message's sequence in the answer to $JS.API.STREAM.MSG.GET ({"message":{"seq":N}});
// 0 when the answer is "no message found"; an error for any other answer.
Result<uint64_t> readMessageGetSequence(std::string_view json);

// What JetStream's answer means for the publish it answers.
enum class AckOutcome {
    Stored,   // in the log at `seq` (a duplicate too: the first copy's sequence)
    Retry,    // JetStream could not take it now: keep it, and re-send at the ack timeout
    Refused,  // final: `status` says why (Code::Conflict for a failed expectation)
};
struct AckReading {
    AckOutcome outcome = AckOutcome::Refused;
    uint64_t seq = 0;
    Status status;           // why, unless Stored
    bool duplicate = false;  // Stored: the first copy's sequence, this one was not stored
};

// `body` is the answer's data and `status` its Status header; an answer without data is the
// server's own (503: no responders).
AckReading readAck(std::string_view body, std::optional<std::string_view> status);

// `text` with every space and control byte replaced by '_', safe inside a header value and a
// message id; "node" when empty.
std::string headerSafe(std::string_view text);

// A subject to publish or subscribe to: tokens separated by single dots, no whitespace, control
// byte or wildcard.
bool validSubject(std::string_view subject);

}  // namespace partyline
