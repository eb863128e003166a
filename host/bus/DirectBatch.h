// DirectBatch: reading a room's log with batched Direct Get (nats-server 2.11 and newer).
//
// One request to $JS.API.DIRECT.GET.<stream> with {"seq":N,"next_by_subj":S,"batch":B,
// "max_bytes":M} is answered on the request's reply subject by up to B stored messages of subject
// S from sequence N on, in order, then an end-of-batch status (204 "EOB", with Nats-Num-Pending:
// how many of S are left); a 404 alone when nothing of S is stored from N on. The server stops a
// batch early once it has sent M bytes (counted as subject, headers and data of each message),
// so an answer is at most B messages and M bytes plus one message. Servers before 2.11 ignore
// "batch" and answer one message without an EOB, so the bus asks this way only when the
// server's version says it can (NatsBus::read).
//
// This unit builds the request, says what an answer is, and collects a read's entries across
// several batches (prevSeq as a one-at-a-time read sets it, answers it already has ignored). The
// bus sends the requests and receives the answers on the reading thread.
//
// Must not: touch the connection, take a lock, or log.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/Bus.h"

namespace partyline {

// The bounds of one batch: what a read asks for at a time, so that what the server pushes at the
// node is never more than the node asked for (the reply subscription holds one batch).
inline constexpr int kDirectBatchMessages = 256;
inline constexpr int kDirectBatchBytes = 1 << 20;

// The JSON body of a batched Direct Get of `subject` from sequence `seq` on. `subject` is a valid
// subject (no quote, backslash or control byte), so it needs no escaping.
std::string directBatchRequest(uint64_t seq, std::string_view subject, int batch, int maxBytes);

// What one message on the reply subject is, from its Status header (nullopt: a stored message).
enum class BatchAnswer {
    Entry,        // a stored message
    End,          // 204: the end of this batch
    NotFound,     // 404: nothing stored for the subject from the asked sequence on
    Timeout,      // 408: the server gave up on the request
    Unavailable,  // 503: nobody answers for the stream (it is gone, or JetStream is not ready)
    Failed,       // any other status
};
BatchAnswer classifyBatchAnswer(std::optional<std::string_view> status);

// The entries of one read(subject, after, limit), filled batch by batch.
class DirectBatchRead {
   public:
    DirectBatchRead(uint64_t after, size_t limit);

    bool full() const { return entries_.size() >= limit_; }
    // Where the next request starts: after the last entry got (after + 1 before any).
    uint64_t nextSeq() const { return next_; }
    // How many the next request asks for: what is still wanted, at most kDirectBatchMessages.
    int nextBatch() const;

    // Takes an entry of a batch, with prevSeq set to the entry before it (unknown for the first
    // entry of the read). False, and the entry is dropped, when it is not after the last one got
    // (an answer to an earlier request that arrived late) or the read is full.
    bool add(LogEntry entry);

    std::vector<LogEntry> take() { return std::move(entries_); }

   private:
    uint64_t next_;
    size_t limit_;
    std::vector<LogEntry> entries_;
};

}  // namespace partyline
