#include "bus/MemoryKeyValue.h"

namespace partyline {

// A watch's callback and the promise that it is not called once its
// Subscription is gone. The subscription touches only this, never the
// bucket, so it may outlive the bucket; the bucket forgets closed watchers.
struct MemoryKeyValue::Watcher {
    std::mutex mutex;
    bool closed = false;
    WatchCallback onChange;
};

class MemoryKeyValue::WatchSubscription final : public Subscription {
   public:
    explicit WatchSubscription(std::shared_ptr<Watcher> watcher) : watcher_(std::move(watcher)) {}
    ~WatchSubscription() override {
        std::lock_guard lock(watcher_->mutex);  // waits for a callback that is running
        watcher_->closed = true;
    }

   private:
    std::shared_ptr<Watcher> watcher_;
};

Status MemoryKeyValue::admit() {
    ++calls_;
    gate_.pass();
    if (!available_) return Status(Code::Unavailable, "memory key-value bucket is unavailable");
    return Status::ok();
}

Status MemoryKeyValue::compare(const std::string& key, uint64_t current, std::optional<uint64_t> expect) {
    if (!expect || *expect == current) return Status::ok();
    return Status(Code::Conflict, "key " + key + " is at revision " + std::to_string(current) + ", not " +
                                      std::to_string(*expect));
}

void MemoryKeyValue::notify(const KvChange& change) {
    for (auto it = watchers_.begin(); it != watchers_.end();) {
        std::shared_ptr<Watcher> watcher = it->second;  // outlives the lock below, when erased
        std::lock_guard lock(watcher->mutex);
        if (watcher->closed) {
            it = watchers_.erase(it);
            continue;
        }
        watcher->onChange(change);
        ++it;
    }
}

Result<KvEntry> MemoryKeyValue::get(const std::string& key, Clock::time_point) {
    if (Status s = admit(); !s) return s;
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (it == entries_.end()) return Status(Code::NotFound, "no value for key " + key);
    return it->second;
}

Result<uint64_t> MemoryKeyValue::put(const std::string& key, std::string_view value,
                                     std::optional<uint64_t> expect, Clock::time_point) {
    if (Status s = admit(); !s) return s;
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (Status s = compare(key, it == entries_.end() ? 0 : it->second.revision, expect); !s) return s;
    KvEntry& entry = entries_[key];
    entry = {key, std::string(value), ++lastRevision_};
    notify({KvChange::Kind::Put, entry});
    return entry.revision;
}

Status MemoryKeyValue::erase(const std::string& key, std::optional<uint64_t> expect, Clock::time_point) {
    if (Status s = admit(); !s) return s;
    std::lock_guard lock(mutex_);
    auto it = entries_.find(key);
    if (Status s = compare(key, it == entries_.end() ? 0 : it->second.revision, expect); !s) return s;
    if (it != entries_.end()) entries_.erase(it);
    notify({KvChange::Kind::Delete, {key, "", ++lastRevision_}});
    return Status::ok();
}

Result<std::vector<KvEntry>> MemoryKeyValue::list(const std::string& parent, size_t maxBytes,
                                                  Clock::time_point) {
    if (Status s = admit(); !s) return s;
    const std::string prefix = parent + ".";
    std::vector<KvEntry> out;
    size_t bytes = 0;
    std::lock_guard lock(mutex_);
    for (auto it = entries_.lower_bound(prefix); it != entries_.end(); ++it) {
        if (it->first.compare(0, prefix.size(), prefix) != 0) break;
        if (it->first.find('.', prefix.size()) != std::string::npos) continue;  // a deeper key
        bytes += it->second.value.size();
        if (bytes > maxBytes)
            return Status(Code::TooLarge,
                          "the values under " + parent + " exceed " + std::to_string(maxBytes) + " bytes");
        out.push_back(it->second);
    }
    return out;
}

Result<std::unique_ptr<Subscription>> MemoryKeyValue::watch(WatchCallback onChange) {
    auto watcher = std::make_shared<Watcher>();
    watcher->onChange = std::move(onChange);
    std::lock_guard lock(mutex_);
    watcher->onChange({KvChange::Kind::Reset, {}});
    for (const auto& [key, entry] : entries_) watcher->onChange({KvChange::Kind::Put, entry});
    watchers_.emplace(nextWatcher_++, watcher);
    return std::unique_ptr<Subscription>(new WatchSubscription(std::move(watcher)));
}

}  // namespace partyline
