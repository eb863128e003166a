// DirectGet: asking a stream for its stored messages in order, one batch per request.
//
// One request to $JS.API.DIRECT.GET.<stream> asks for the messages of a subject from a sequence
// on (DirectBatch.h says what the server answers). The room log's reads (NatsBus) and the
// key-value bucket's listings and watch (NatsKeyValue) read through it on nats-server 2.11 and
// newer; against older servers they ask one message at a time with js_DirectGetMsg.
//
// Must not: decode what a message means (the caller's `take` does), or keep any state between
// requests: each request has a reply subject of its own, so an answer to an earlier request that
// timed out cannot be taken for one of this one.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <functional>
#include <string>

#include "core/Status.h"

namespace partyline {

// Asks for at most `batch` stored messages of `subject` from sequence `seq` on and hands each to
// `take`, in order (a failure `take` returns ends the request with it). True when the server
// has more of `subject` after them (the batch was cut short by its count or byte bound), false
// when it has no more. Timeout, Unavailable (no responders: the stream is gone or not ready) or
// Internal otherwise. Blocks up to `waitMs` for each answer.
Result<bool> askDirectBatch(natsConnection* connection, const std::string& stream, uint64_t seq,
                            const std::string& subject, int batch, int64_t waitMs,
                            const std::function<Status(natsMsg*)>& take);

// The sequence of the first stored message of `subject` from `seq` on, as the stream's leader has
// it ($JS.API.STREAM.MSG.GET with next_by_subj, which only the leader answers, where a Direct Get
// may be answered by a replica that lags); 0 when there is none. Blocks up to `waitMs`.
Result<uint64_t> leaderNextSequence(natsConnection* connection, const std::string& stream, uint64_t seq,
                                    const std::string& subject, int64_t waitMs);

}  // namespace partyline
