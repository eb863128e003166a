// PartitionedKeyValue: one KeyValue over the buckets of every partition (nats.partitions).
//
// Each room's keys (<party>.<room> and <party>.<room>.<key>, Subject.h) live in the bucket of
// the room's partition (bus/Partition.h), next to its log, so that storage and alarm writes are
// spread over the buckets' leaders as the log's writes are over the streams'. Every call goes
// to the one bucket of its key; a watch follows every bucket and reports their changes as one
// bucket would, a bucket that starts over included (its Reset is followed by the entries of
// every other bucket again).
//
// It owns nothing of NATS: the buckets are opened by the caller and shared. A key that names no
// room is refused (InvalidArgument), since it has no partition.
//
// Threads: as KeyValue.h. A watch's callback runs on the threads of the buckets' watches, one
// change at a time.
#pragma once

#include <memory>
#include <vector>

#include "bus/KeyValue.h"

namespace partyline {

class PartitionedKeyValue final : public KeyValue {
   public:
    // `buckets[i]` holds partition i's keys; at least one.
    explicit PartitionedKeyValue(std::vector<std::shared_ptr<KeyValue>> buckets);

    Result<KvEntry> get(const std::string& key, Clock::time_point deadline) override;
    Result<uint64_t> put(const std::string& key, std::string_view value, std::optional<uint64_t> expect,
                         Clock::time_point deadline) override;
    Status erase(const std::string& key, std::optional<uint64_t> expect, Clock::time_point deadline) override;
    Result<std::vector<KvEntry>> list(const std::string& parent, size_t maxBytes,
                                      Clock::time_point deadline) override;
    Result<std::unique_ptr<Subscription>> watch(WatchCallback onChange) override;

   private:
    class Watch;
    // The bucket of the room a key begins with.
    Result<KeyValue*> bucketOf(const std::string& key) const;

    const std::vector<std::shared_ptr<KeyValue>> buckets_;
};

}  // namespace partyline
