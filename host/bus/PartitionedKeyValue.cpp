#include "bus/PartitionedKeyValue.h"

#include <map>
#include <mutex>

#include "bus/Partition.h"
#include "bus/Subject.h"

namespace partyline {

// Merges the buckets' changes, remembering each bucket's entries so that one bucket's Reset
// (which tells the watcher to forget everything) is followed by the others' entries again.
class PartitionedKeyValue::Watch final : public Subscription {
   public:
    Watch(size_t buckets, WatchCallback onChange) : entries_(buckets), onChange_(std::move(onChange)) {}
    ~Watch() override { subscriptions_.clear(); }  // no callback runs after this

    // On bucket `index`'s watch thread.
    void receive(size_t index, KvChange change) {
        std::lock_guard lock(mutex_);
        auto& mine = entries_[index];
        switch (change.kind) {
            case KvChange::Kind::Reset:
                mine.clear();
                onChange_(std::move(change));
                for (size_t other = 0; other < entries_.size(); ++other) {
                    if (other == index) continue;
                    for (const auto& [key, entry] : entries_[other]) onChange_({KvChange::Kind::Put, entry});
                }
                return;
            case KvChange::Kind::Put:
                mine[change.entry.key] = change.entry;
                break;
            case KvChange::Kind::Delete:
                mine.erase(change.entry.key);
                break;
        }
        onChange_(std::move(change));
    }

    std::vector<std::unique_ptr<Subscription>> subscriptions_;

   private:
    std::mutex mutex_;  // one change at a time, from whichever bucket
    std::vector<std::map<std::string, KvEntry>> entries_;
    const WatchCallback onChange_;
};

PartitionedKeyValue::PartitionedKeyValue(std::vector<std::shared_ptr<KeyValue>> buckets)
    : buckets_(std::move(buckets)) {}

Result<KeyValue*> PartitionedKeyValue::bucketOf(const std::string& key) const {
    if (buckets_.size() == 1) return buckets_.front().get();
    size_t dot = key.find('.');
    size_t end = dot == std::string::npos ? dot : key.find('.', dot + 1);
    auto room = roomOfKeyPrefix(std::string_view(key).substr(0, end));
    if (!room) return room.status().withContext("key " + key + " names no room");
    return buckets_[size_t(partitionOf(room->first, room->second, int(buckets_.size())))].get();
}

Result<KvEntry> PartitionedKeyValue::get(const std::string& key, Clock::time_point deadline) {
    auto bucket = bucketOf(key);
    if (!bucket) return bucket.status();
    return (*bucket)->get(key, deadline);
}

Result<uint64_t> PartitionedKeyValue::put(const std::string& key, std::string_view value,
                                          std::optional<uint64_t> expect, Clock::time_point deadline) {
    auto bucket = bucketOf(key);
    if (!bucket) return bucket.status();
    return (*bucket)->put(key, value, expect, deadline);
}

Status PartitionedKeyValue::erase(const std::string& key, std::optional<uint64_t> expect,
                                  Clock::time_point deadline) {
    auto bucket = bucketOf(key);
    if (!bucket) return bucket.status();
    return (*bucket)->erase(key, expect, deadline);
}

Result<std::vector<KvEntry>> PartitionedKeyValue::list(const std::string& parent, size_t maxBytes,
                                                       Clock::time_point deadline) {
    auto bucket = bucketOf(parent);
    if (!bucket) return bucket.status();
    return (*bucket)->list(parent, maxBytes, deadline);
}

Result<std::unique_ptr<Subscription>> PartitionedKeyValue::watch(WatchCallback onChange) {
    auto merged = std::make_unique<Watch>(buckets_.size(), std::move(onChange));
    for (size_t i = 0; i < buckets_.size(); ++i) {
        Watch* raw = merged.get();
        auto sub = buckets_[i]->watch([raw, i](KvChange change) { raw->receive(i, std::move(change)); });
        if (!sub) return sub.status();
        merged->subscriptions_.push_back(std::move(sub.value()));
    }
    return std::unique_ptr<Subscription>(std::move(merged));
}

}  // namespace partyline
