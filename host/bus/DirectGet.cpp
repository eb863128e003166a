#include "bus/DirectGet.h"

#include "bus/DirectBatch.h"
#include "bus/NatsCodec.h"
#include "bus/NatsError.h"
#include "bus/NatsHandles.h"

namespace partyline {

Result<bool> askDirectBatch(natsConnection* connection, const std::string& stream, uint64_t seq,
                            const std::string& subject, int batch, int64_t waitMs,
                            const std::function<Status(natsMsg*)>& take) {
    const std::string what = "direct get from " + stream;
    natsInbox* rawInbox = nullptr;
    natsStatus s = natsInbox_Create(&rawInbox);
    InboxPtr inbox(rawInbox);
    if (s != NATS_OK) return natsFailure(s, what);
    natsSubscription* rawSub = nullptr;
    s = natsConnection_SubscribeSync(&rawSub, connection, inbox.get());
    SubscriptionPtr sub(rawSub);
    // One batch fits: `batch` entries and the end, and kDirectBatchBytes plus one message, which
    // is at most the server's max_payload (64 MiB at most).
    if (s == NATS_OK)
        s = natsSubscription_SetPendingLimits(sub.get(), batch + 1, kDirectBatchBytes + (64 << 20));
    const std::string api = "$JS.API.DIRECT.GET." + stream;
    const std::string request = directBatchRequest(seq, subject, batch, kDirectBatchBytes);
    if (s == NATS_OK)
        s = natsConnection_PublishRequest(connection, api.c_str(), inbox.get(), request.data(),
                                          int(request.size()));
    if (s != NATS_OK) return natsFailure(s, what);
    // At most `batch` entries and the end: bounded by count, whatever the server sends.
    for (int answers = 0; answers <= batch; ++answers) {
        natsMsg* raw = nullptr;
        s = natsSubscription_NextMsg(&raw, sub.get(), waitMs);
        MsgPtr msg(raw);
        if (s != NATS_OK) return natsFailure(s, what);
        const char* status = header(raw, kHeaderStatus);  // stored messages have none
        switch (
            classifyBatchAnswer(status != nullptr ? std::optional<std::string_view>(status) : std::nullopt)) {
            case BatchAnswer::Entry:
                if (Status taken = take(raw); !taken) return taken.withContext(what);
                break;
            case BatchAnswer::End: {
                // Cut short by max_bytes or `batch`, or the last of the subject: the count left says.
                auto pending = headerValue(raw, "Nats-Num-Pending");
                auto left = pending ? parseUint(*pending) : std::nullopt;
                return !left || *left > 0;
            }
            case BatchAnswer::NotFound:
                return false;
            case BatchAnswer::Timeout:
                return Status(Code::Timeout, what + ": JetStream answered status 408");
            case BatchAnswer::Unavailable:
                return Status(Code::Unavailable, what + ": no responders (the stream is gone or not ready)");
            case BatchAnswer::Failed:
                return Status(Code::Internal, what + ": JetStream answered status " + std::string(status));
        }
    }
    return Status(Code::Internal, what + ": more answers than the batch asked for");
}

Result<uint64_t> leaderNextSequence(natsConnection* connection, const std::string& stream, uint64_t seq,
                                    const std::string& subject, int64_t waitMs) {
    const std::string api = "$JS.API.STREAM.MSG.GET." + stream;
    // The subject is valid (no quote, backslash or control byte), so it needs no escaping.
    const std::string request = "{\"seq\":" + std::to_string(seq) + ",\"next_by_subj\":\"" + subject + "\"}";
    natsMsg* raw = nullptr;
    natsStatus s =
        natsConnection_Request(&raw, connection, api.c_str(), request.data(), int(request.size()), waitMs);
    MsgPtr reply(raw);
    if (s != NATS_OK) return natsFailure(s, "message get from " + stream);
    return readMessageGetSequence(std::string_view(natsMsg_GetData(raw), size_t(natsMsg_GetDataLength(raw))));
}

}  // namespace partyline
