#include "bus/MemoryBus.h"

#include <algorithm>

namespace partyline {

// A subscriber's callback and the promise that it is not called once its
// Subscription is gone.
struct MemoryBus::Subscriber {
    std::mutex mutex;
    std::condition_variable idle;
    bool closed = false;
    bool delivering = false;
    size_t queued = 0;  // deliveries posted and not yet run: a burst, as nats.c's pending count
    DeliverCallback deliver;
};

// Touches only its Subscriber, never the bus, so it may outlive the bus;
// the bus forgets closed subscribers on its next publish to their subject.
class MemoryBus::MemorySubscription final : public Subscription {
   public:
    MemorySubscription(std::shared_ptr<Subscriber> subscriber, std::thread::id busThread)
        : subscriber_(std::move(subscriber)), busThread_(busThread) {}

    ~MemorySubscription() override {
        std::unique_lock lock(subscriber_->mutex);
        subscriber_->closed = true;
        // From the bus thread itself (inside a callback) nothing else can be running.
        if (std::this_thread::get_id() != busThread_) {
            subscriber_->idle.wait(lock, [&] { return !subscriber_->delivering; });
        }
    }

   private:
    std::shared_ptr<Subscriber> subscriber_;
    const std::thread::id busThread_;
};

Result<std::shared_ptr<KeyValue>> MemoryBus::openKeyValue(const KeyValueConfig& config) {
    if (config.bucket.empty()) return Status(Code::InvalidArgument, "bucket name is empty");
    std::lock_guard lock(mutex_);
    auto& bucket = buckets_[config.bucket];
    if (!bucket) bucket = std::make_shared<MemoryKeyValue>();
    return std::shared_ptr<KeyValue>(bucket);
}

MemoryBus::MemoryBus(size_t maxPerSubject)
    : maxPerSubject_(std::max<size_t>(1, maxPerSubject)), thread_([this] { run(); }) {}

MemoryBus::~MemoryBus() {
    {
        std::lock_guard lock(queueMutex_);
        stopping_ = true;
    }
    queueCv_.notify_all();
    thread_.join();
}

void MemoryBus::publish(const std::string& subject, std::string data, PublishOptions options,
                        PublishCallback done) {
    std::vector<std::pair<std::shared_ptr<Subscriber>, LogEntry>> deliveries;
    Result<uint64_t> result = Status(Code::Internal, "unset");
    {
        std::lock_guard lock(mutex_);
        auto& log = logs_[subject];
        const uint64_t last = log.empty() ? 0 : log.back().seq;
        auto seen = options.msgId.empty() ? seenMsgIds_.end() : seenMsgIds_.find(options.msgId);
        if (!available_) {
            result = Status(Code::Unavailable, "memory bus is unavailable");
        } else if (seen != seenMsgIds_.end()) {
            result = seen->second;  // a duplicate is acknowledged with the first copy's sequence
        } else if (options.expectLastSeq && *options.expectLastSeq != last) {
            result = Status(Code::Conflict, "wrong last sequence: " + std::to_string(last));
        } else {
            LogEntry entry;
            entry.seq = ++lastSeq_;
            entry.prevSeq = last;
            entry.prevKnown = true;
            entry.data = std::move(data);
            entry.binary = options.binary;
            entry.exclude = std::move(options.exclude);
            entry.msgId = options.msgId.empty() ? "memory-" + std::to_string(entry.seq) : options.msgId;
            entry.timeNs = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
            entry.publishedNs = entry.timeNs;
            seenMsgIds_[entry.msgId] = entry.seq;
            auto range = subscribers_.equal_range(subject);
            for (auto it = range.first; it != range.second;) {
                if (isClosed(*it->second)) {
                    it = subscribers_.erase(it);
                    continue;
                }
                auto current = it++;
                if (dropDeliveries_ > 0) {
                    --dropDeliveries_;
                    continue;
                }
                deliveries.emplace_back(current->second, entry);
            }
            log.push_back(std::move(entry));
            while (log.size() > maxPerSubject_) log.pop_front();
            result = log.back().seq;
        }
        // Queued under the lock so the bus thread sees writes in log order.
        for (auto& delivery : deliveries) deliverLater(std::move(delivery.first), std::move(delivery.second));
        post([done = std::move(done), result = std::move(result)]() mutable {
            if (done) done(std::move(result));
        });
    }
}

void MemoryBus::deliverLater(std::shared_ptr<Subscriber> subscriber, LogEntry entry) {
    {
        std::lock_guard gate(subscriber->mutex);
        ++subscriber->queued;
    }
    post([subscriber = std::move(subscriber), entry = std::move(entry)]() mutable {
        {
            std::lock_guard gate(subscriber->mutex);
            --subscriber->queued;
            if (subscriber->closed) return;
            subscriber->delivering = true;
            entry.moreQueued = subscriber->queued > 0;
        }
        subscriber->deliver(std::move(entry));
        {
            std::lock_guard gate(subscriber->mutex);
            subscriber->delivering = false;
        }
        subscriber->idle.notify_all();
    });
}

// Ephemeral subscribers share the map with log subscribers under a prefix no
// log subject can have.
static std::string ephemeralKey(const std::string& subject) {
    return "~ephemeral~" + subject;
}

Status MemoryBus::publishEphemeral(const std::string& subject, std::string data) {
    std::lock_guard lock(mutex_);
    if (!available_) return Status(Code::Unavailable, "memory bus is unavailable");
    auto range = subscribers_.equal_range(ephemeralKey(subject));
    for (auto it = range.first; it != range.second; ++it) {
        LogEntry entry;
        entry.data = data;
        deliverLater(it->second, std::move(entry));
    }
    return Status::ok();
}

Result<std::unique_ptr<Subscription>> MemoryBus::subscribeEphemeral(const std::string& subject,
                                                                    EphemeralCallback receive) {
    return subscribe(ephemeralKey(subject),
                     [receive = std::move(receive)](LogEntry e) { receive(std::move(e.data)); });
}

Result<std::unique_ptr<Subscription>> MemoryBus::subscribe(const std::string& subject,
                                                           DeliverCallback deliver) {
    auto subscriber = std::make_shared<Subscriber>();
    subscriber->deliver = std::move(deliver);
    std::lock_guard lock(mutex_);
    subscribers_.emplace(subject, subscriber);
    return std::unique_ptr<Subscription>(new MemorySubscription(subscriber, thread_.get_id()));
}

bool MemoryBus::isClosed(Subscriber& subscriber) {
    std::lock_guard lock(subscriber.mutex);
    return subscriber.closed;
}

Result<uint64_t> MemoryBus::lastSequence(const std::string& subject) {
    std::lock_guard lock(mutex_);
    if (!available_) return Status(Code::Unavailable, "memory bus is unavailable");
    auto it = logs_.find(subject);
    return it == logs_.end() || it->second.empty() ? uint64_t(0) : it->second.back().seq;
}

void MemoryBus::lastSequenceAsync(const std::string& subject, SequenceCallback done) {
    post([done = std::move(done), last = lastSequence(subject)]() mutable { done(std::move(last)); });
}

Result<uint64_t> MemoryBus::firstSequence(const std::string& subject) {
    std::lock_guard lock(mutex_);
    if (!available_) return Status(Code::Unavailable, "memory bus is unavailable");
    auto it = logs_.find(subject);
    return it == logs_.end() || it->second.empty() ? uint64_t(0) : it->second.front().seq;
}

Result<uint64_t> MemoryBus::nextSequence(const std::string& subject, uint64_t after) {
    std::lock_guard lock(mutex_);
    if (!available_) return Status(Code::Unavailable, "memory bus is unavailable");
    auto it = logs_.find(subject);
    if (it == logs_.end()) return uint64_t(0);
    auto next = std::upper_bound(it->second.begin(), it->second.end(), after,
                                 [](uint64_t seq, const LogEntry& entry) { return seq < entry.seq; });
    return next == it->second.end() ? uint64_t(0) : next->seq;
}

Result<std::vector<LogEntry>> MemoryBus::read(const std::string& subject, uint64_t after, size_t limit) {
    readGate_.pass();
    std::lock_guard lock(mutex_);
    if (!available_) return Status(Code::Unavailable, "memory bus is unavailable");
    std::vector<LogEntry> entries;
    auto it = logs_.find(subject);
    if (it == logs_.end()) return entries;
    const auto& log = it->second;
    auto from = std::upper_bound(log.begin(), log.end(), after,
                                 [](uint64_t seq, const LogEntry& entry) { return seq < entry.seq; });
    uint64_t newest = lastSeq_;
    if (laggingReads_ > 0) {  // what a lagging replica has
        --laggingReads_;
        newest = lastSeq_ > readLag_ ? lastSeq_ - readLag_ : 0;
    }
    for (; from != log.end() && entries.size() < limit && from->seq <= newest; ++from) {
        LogEntry entry = *from;
        // As NatsBus: a read knows the predecessor only of its second entry on.
        entry.prevKnown = !entries.empty();
        entry.prevSeq = entries.empty() ? 0 : entries.back().seq;
        entries.push_back(std::move(entry));
    }
    return entries;
}

Status MemoryBus::ready() {
    std::lock_guard lock(mutex_);
    return available_ ? Status::ok() : Status(Code::Unavailable, "memory bus is unavailable");
}

void MemoryBus::dropNextDeliveries(size_t count) {
    std::lock_guard lock(mutex_);
    dropDeliveries_ += count;
}

void MemoryBus::lagNextReads(size_t reads, uint64_t writes) {
    std::lock_guard lock(mutex_);
    laggingReads_ = reads;
    readLag_ = writes;
}

void MemoryBus::setAvailable(bool available) {
    std::lock_guard lock(mutex_);
    available_ = available;
}

void MemoryBus::simulateReconnect() {
    ++reconnects_;
}

uint64_t MemoryBus::reconnects() const {
    return reconnects_.load();
}

std::string MemoryBus::epoch(const std::string& subject) const {
    (void)subject;
    std::lock_guard lock(mutex_);
    return std::to_string(epoch_);
}

void MemoryBus::beginAgain() {
    std::lock_guard lock(mutex_);
    logs_.clear();
    seenMsgIds_.clear();
    lastSeq_ = 0;
    ++epoch_;
}

bool MemoryBus::drain(std::chrono::milliseconds timeout) {
    std::unique_lock lock(queueMutex_);
    const uint64_t target = posted_;
    return queueCv_.wait_for(lock, timeout, [&] { return ran_ >= target; });
}

void MemoryBus::pause(bool paused) {
    {
        std::lock_guard lock(queueMutex_);
        paused_ = paused;
    }
    queueCv_.notify_all();
}

void MemoryBus::post(std::function<void()> task) {
    {
        std::lock_guard lock(queueMutex_);
        queue_.push_back(std::move(task));
        ++posted_;
    }
    queueCv_.notify_all();
}

void MemoryBus::run() {
    std::unique_lock lock(queueMutex_);
    while (true) {
        queueCv_.wait(lock, [&] { return stopping_ || (!queue_.empty() && !paused_); });
        if (queue_.empty()) return;  // stopping, and every callback has run
        auto task = std::move(queue_.front());
        queue_.pop_front();
        lock.unlock();
        task();
        lock.lock();
        ++ran_;
        queueCv_.notify_all();
    }
}

}  // namespace partyline
