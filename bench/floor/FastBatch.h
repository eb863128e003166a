// FastBatch: the client side of JetStream fast-ingest batch publishing (nats-server 2.14+, a
// stream with allow_batched), for partyline-jetstream-floor's --fast-batch mode.
//
// A fast batch is a run of plain publishes whose reply subject carries the batch's state:
// <inbox>.<id>.<max flow>.<gap mode>.<batch seq>.<operation>.$FI, operation 0 starting the batch
// (its first message), 1 appending, 2 storing the last message and committing. The server answers
// on those reply subjects: the first message with a flow acknowledgement {"type":"ack","seq":0,
// "msgs":M} (one acknowledgement will come every M messages, M at most the max flow asked for),
// then {"type":"ack","seq":S,"msgs":M} once message S and all before it are stored, a gap
// {"type":"gap",...} or error {"type":"err",...} at once when one happens, and after the commit a
// PubAck with the stream sequence of the batch's last stored message and how many there were
// ("batch", "count"). A batch of one message is answered by a plain PubAck. This unit asks for
// gap mode "fail": a lost message ends the batch, so what is stored is always a prefix of it.
//
// Provides the reply subjects, the decoding of an answer, and the flow rule: how many messages
// may be sent before the next acknowledgement (at most `outstanding` acknowledgements' worth).
//
// Must not: touch a connection, take a lock, or block: the caller sends, waits and locks.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace partyline::bench {

// Ping (4) stores nothing: it carries the highest sequence sent, and the server answers with its
// last flow acknowledgement again (or a gap), for a client that lost one.
enum class FastBatchOp { Start = 0, Append = 1, Commit = 2, Ping = 4 };

// What message `seq` (from 1) of a batch of `size` messages is: the last one commits (a batch of
// one commits on its first message), the first starts, the others append.
FastBatchOp fastBatchOp(uint64_t seq, uint64_t size);

// The reply subject of message `seq` of batch `id` (a subject token of at most 64 bytes, as the
// server requires) under `inbox`, asking for an acknowledgement at most every `maxFlow` messages.
std::string fastBatchReply(std::string_view inbox, std::string_view id, int maxFlow, uint64_t seq,
                           FastBatchOp op);

// One answer of the server on a batch's reply subject.
struct FastBatchAnswer {
    enum class Kind {
        FlowAck,     // messages up to `seq` stored; acknowledgements now every `messages`
        Gap,         // the server missed messages before `seq`: the batch ends (gap mode "fail")
        FlowError,   // message `seq` was refused (`errCode`, `description`): the batch ends
        Committed,   // the batch ended: `count` messages stored, the last at stream sequence `streamSeq`
        Refused,     // the batch was refused as a whole (`errCode`, `description`), nothing more comes
        Unreadable,  // not JSON, or none of the above
    };
    Kind kind = Kind::Unreadable;
    uint64_t seq = 0;
    uint64_t messages = 0;
    uint64_t streamSeq = 0;
    uint64_t count = 0;
    bool duplicate = false;
    int errCode = 0;
    std::string description;
};
FastBatchAnswer parseFastBatchAnswer(std::string_view json);

// The sending side of one batch: which message may go next, and when the batch is over.
class FastBatchFlow {
   public:
    // `size` messages, at most `outstanding` acknowledgements' worth of messages unacknowledged.
    FastBatchFlow(uint64_t size, uint64_t outstanding);

    // The sequence of the next message to send.
    uint64_t next() const { return sent_ + 1; }
    // Whether the next message may go now: not after the last, not before the first answer (the
    // server says then how often it acknowledges), not past the flow window, not after the batch
    // ended.
    bool maySend() const;
    void sent() { ++sent_; }

    // Takes an answer; acknowledgements may arrive out of order or be lost (a later one covers
    // the ones before it).
    void take(const FastBatchAnswer& answer);

    // Nothing more comes: the batch committed (`stored()` messages) or was refused.
    bool over() const { return over_; }
    // The server reported a gap or an error: no more messages go, the PubAck is still to come.
    bool stopped() const { return stopped_; }
    uint64_t stored() const { return stored_; }
    uint64_t lastStreamSeq() const { return streamSeq_; }
    uint64_t acknowledged() const { return acked_; }
    uint64_t ackEvery() const { return every_; }
    const std::string& error() const { return error_; }
    // The batch ended because the server no longer knows its id (10208: its PubAck was lost and a
    // ping came after the commit, or the server gave the batch up). Only the acknowledged writes
    // are known stored; the others' outcome is unknown.
    bool forgotten() const { return over_ && errCode_ == kUnknownBatch; }
    static constexpr int kUnknownBatch = 10208;

   private:
    uint64_t size_, outstanding_;
    uint64_t sent_ = 0, acked_ = 0, every_ = 0;
    bool answered_ = false, stopped_ = false, over_ = false;
    uint64_t stored_ = 0, streamSeq_ = 0;
    int errCode_ = 0;
    std::string error_;
};

}  // namespace partyline::bench
