// KeyValue: one key-value bucket shared by every node, with a revision per
// key for compare-and-set.
//
// Room storage (room.storage) and room alarms each live in one bucket. Keys are
// NATS key-value keys: tokens of A-Z a-z 0-9 - _ = separated by dots (callers
// encode room ids and user keys with Subject.h). Nothing here knows about rooms
// or Lua. NatsKeyValue is the real implementation (a JetStream key-value
// bucket); MemoryKeyValue is an in-process one for unit tests.
//
// Threads: get, put, erase and list block until the bucket answers or the
// deadline passes. Call them from a worker thread made for blocking calls,
// never from a shard's strand, a timer callback or a bus callback. Every
// method may be called from any such thread at the same time.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "bus/Bus.h"
#include "core/Status.h"

namespace partyline {

struct KvEntry {
    std::string key;
    std::string value;
    uint64_t revision = 0;  // the bucket's sequence of this value: what `expect` compares with
};

// One change seen by a watcher.
struct KvChange {
    enum class Kind {
        Reset,   // forget every entry seen so far: the current ones follow as Put
        Put,     // `entry` is the key's value now
        Delete,  // `entry.key` has no value any more (entry.revision: the deletion's)
    };
    Kind kind = Kind::Put;
    KvEntry entry;
};

struct KeyValueConfig {
    std::string bucket;  // A-Z a-z 0-9 _ -
    int replicas = 1;
    // Where the bucket republishes each change once stored, for watches (NatsKeyValue):
    // <republish>.<key>. Empty: the bus picks one (<subject prefix>.kv.<bucket>).
    std::string republish;
};

class KeyValue {
   public:
    using Clock = std::chrono::steady_clock;
    using WatchCallback = std::function<void(KvChange)>;

    virtual ~KeyValue() = default;

    // The key's value and revision; Code::NotFound when it has none (never
    // set, or deleted).
    virtual Result<KvEntry> get(const std::string& key, Clock::time_point deadline) = 0;

    // Stores `value`; returns its revision. `expect`: empty stores whatever
    // the key holds; 0 stores only when the key has no value; N stores only
    // when the key's revision is still N. Code::Conflict when the expectation
    // fails. Code::Unavailable or Code::Timeout when the bucket did not answer
    // by the deadline: the write may still have been stored.
    virtual Result<uint64_t> put(const std::string& key, std::string_view value,
                                 std::optional<uint64_t> expect, Clock::time_point deadline) = 0;

    // Deletes the key's value. `expect` (at least 1): only when the key's
    // revision is still that one, else Code::Conflict. Deleting a key that has
    // no value is not an error.
    virtual Status erase(const std::string& key, std::optional<uint64_t> expect,
                         Clock::time_point deadline) = 0;

    // Every entry whose key is `parent` followed by one more token
    // ("chat.lobby" lists "chat.lobby.x", not "chat.lobby.x.y"), in key
    // order. Code::TooLarge when the values add up to more than `maxBytes`.
    virtual Result<std::vector<KvEntry>> list(const std::string& parent, size_t maxBytes,
                                              Clock::time_point deadline) = 0;

    // Every change to the bucket from now on: first a Reset and the current
    // entries, then each change as it is stored, in the bucket's order. A
    // change that a later one of the same key replaced before the watch read
    // it may be skipped (the bucket keeps one value per key). The watch starts
    // over with a Reset when the bucket itself was made again or restored;
    // a lost connection only delays it. `onChange` runs on one thread owned by
    // the watch, one change at a time; it must copy, post and return, and must
    // not call this KeyValue. No callback runs after the Subscription is
    // destroyed; do not destroy it from inside the callback.
    virtual Result<std::unique_ptr<Subscription>> watch(WatchCallback onChange) = 0;
};

}  // namespace partyline
