// Owners of nats.c handles, and small readers of nats.c messages.
//
// Every nats.c object partyline creates is held by one of these from the
// moment it exists, so an early return cannot leak it. Every deleter of a
// nats.c handle lives here and nowhere else: one owner type per C handle.
// A holder of several declares them in dependency order (subscriptions after
// the connection), so they are destroyed in reverse.
#pragma once

#include <nats/nats.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace partyline {

struct ConnectionDeleter {
    void operator()(natsConnection* nc) const { natsConnection_Destroy(nc); }
};
using ConnectionPtr = std::unique_ptr<natsConnection, ConnectionDeleter>;
struct SubscriptionDeleter {
    void operator()(natsSubscription* sub) const { natsSubscription_Destroy(sub); }
};
using SubscriptionPtr = std::unique_ptr<natsSubscription, SubscriptionDeleter>;
struct InboxDeleter {
    void operator()(natsInbox* inbox) const { natsInbox_Destroy(inbox); }
};
using InboxPtr = std::unique_ptr<natsInbox, InboxDeleter>;
#ifdef PARTYLINE_HAVE_NATS_MSG_FREE
// natsMsg_Destroy of a message nats.c parsed or natsMsg_Create made hands it to nats.c's garbage
// collector thread, waking that thread for each one: two to four wake-ups of a thread per room
// write, to run this one function. libnats exports it (not in its headers; CMake checks that it
// is there), so the deleter calls it on the spot. The only messages natsMsg_Destroy leaves alone
// ("no destroy") are a JetStream push consumer's own, which partyline never holds.
extern "C" void natsMsg_free(void* object);
#endif
struct MsgDeleter {
    void operator()(natsMsg* msg) const {
#ifdef PARTYLINE_HAVE_NATS_MSG_FREE
        natsMsg_free(msg);
#else
        natsMsg_Destroy(msg);
#endif
    }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;
struct OptionsDeleter {
    void operator()(natsOptions* opts) const { natsOptions_Destroy(opts); }
};
using OptionsPtr = std::unique_ptr<natsOptions, OptionsDeleter>;
struct StreamInfoDeleter {
    void operator()(jsStreamInfo* si) const { jsStreamInfo_Destroy(si); }
};
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, StreamInfoDeleter>;
struct StreamInfoListDeleter {
    void operator()(jsStreamInfoList* list) const { jsStreamInfoList_Destroy(list); }
};
using StreamInfoListPtr = std::unique_ptr<jsStreamInfoList, StreamInfoListDeleter>;
struct JetStreamDeleter {
    void operator()(jsCtx* js) const { jsCtx_Destroy(js); }
};
using JetStreamPtr = std::unique_ptr<jsCtx, JetStreamDeleter>;
struct KvStoreDeleter {
    void operator()(kvStore* kv) const { kvStore_Destroy(kv); }
};
using KvStorePtr = std::unique_ptr<kvStore, KvStoreDeleter>;
struct PubAckDeleter {
    void operator()(jsPubAck* pa) const { jsPubAck_Destroy(pa); }
};
using PubAckPtr = std::unique_ptr<jsPubAck, PubAckDeleter>;

// A header's value, or nullptr when the message has no such header.
inline const char* header(natsMsg* msg, const char* key) {
    const char* value = nullptr;
    return natsMsgHeader_Get(msg, key, &value) == NATS_OK ? value : nullptr;
}

// The same, for NatsCodec: nullopt when the message has no such header.
inline std::optional<std::string_view> headerValue(natsMsg* msg, const char* key) {
    const char* value = header(msg, key);
    return value != nullptr ? std::optional<std::string_view>(value) : std::nullopt;
}

#ifdef PARTYLINE_HAVE_NATS_MSG_CREATE
// What nats.c's parser makes a received message with: one allocation holding subject, reply,
// the header block as it arrived, and the data. Published, such a message's header block goes
// out as it is, where natsMsgHeader_Set builds a hash of copied names and values per header and
// publishing walks it again. Exported by libnats with this signature from 3.0 on, not in its
// headers (CMake checks that it is there).
extern "C" natsStatus natsMsg_create(natsMsg** newMsg, const char* subject, int subjLen, const char* reply,
                                     int replyLen, const char* buf, int bufLen, int hdrLen);
#endif

// A message to publish from `wire`: a header block (encodeHeaderBlock) of `headerBytes`, then the
// data, made the public way: natsMsg_Create with the data, then each "Name: value" line of the
// block set on its own. `subject` and `reply` must be NUL-terminated after their ends.
inline natsStatus createMessageHeaderByHeader(natsMsg** out, std::string_view subject, std::string_view reply,
                                              std::string_view wire, int headerBytes) {
    natsStatus s = natsMsg_Create(out, subject.data(), reply.empty() ? nullptr : reply.data(),
                                  wire.data() + headerBytes, int(wire.size()) - headerBytes);
    std::string_view block = wire.substr(0, size_t(headerBytes));
    block.remove_prefix(std::min(block.size(), block.find("\r\n") + 2));  // NATS/1.0
    while (s == NATS_OK && block.size() > 2) {
        const size_t end = block.find("\r\n");
        const std::string_view line = block.substr(0, end);
        const size_t colon = line.find(": ");
        if (colon == std::string_view::npos) break;
        s = natsMsgHeader_Set(*out, std::string(line.substr(0, colon)).c_str(),
                              std::string(line.substr(colon + 2)).c_str());
        block.remove_prefix(end + 2);
    }
    return s;
}

// The same, with the block kept as it is where libnats has natsMsg_create.
inline natsStatus createMessage(natsMsg** out, std::string_view subject, std::string_view reply,
                                std::string_view wire, int headerBytes) {
#ifdef PARTYLINE_HAVE_NATS_MSG_CREATE
    return natsMsg_create(out, subject.data(), int(subject.size()), reply.data(), int(reply.size()),
                          wire.data(), int(wire.size()), headerBytes);
#else
    return createMessageHeaderByHeader(out, subject, reply, wire, headerBytes);
#endif
}

}  // namespace partyline
