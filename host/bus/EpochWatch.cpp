#include "bus/EpochWatch.h"

#include "core/Log.h"
#include "core/ThreadName.h"

namespace partyline {

EpochWatch::EpochWatch(std::vector<std::string> first, std::vector<std::string> names, Read read,
                       std::chrono::milliseconds period)
    : names_(std::move(names)), read_(std::move(read)), period_(period), epochs_(std::move(first)) {
    epochs_.resize(names_.size());
    thread_ = std::thread([this] {
        nameThisThread("pl-nats-epoch");
        run();
    });
}

EpochWatch::~EpochWatch() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

std::string EpochWatch::current(size_t stream) const {
    std::lock_guard lock(mutex_);
    return stream < epochs_.size() ? epochs_[stream] : std::string();
}

uint64_t EpochWatch::changes() const {
    std::lock_guard lock(mutex_);
    return changes_;
}

void EpochWatch::checkSoon() {
    {
        std::lock_guard lock(mutex_);
        soon_ = true;
    }
    wake_.notify_all();
}

void EpochWatch::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, period_, [this] { return stopping_ || soon_; });
        soon_ = false;
        for (size_t stream = 0; stream < names_.size() && !stopping_; ++stream) check(stream, lock);
    }
}

void EpochWatch::check(size_t stream, std::unique_lock<std::mutex>& lock) {
    lock.unlock();
    auto now = read_(stream);  // a failure (NATS away) is asked again next time
    lock.lock();
    std::string& epoch = epochs_[stream];
    if (!now || now->empty() || *now == epoch) return;
    log::warn("nats", "stream " + names_[stream] + " began again (epoch " + epoch + " -> " + *now +
                          "): its sequences start over, and clients resuming after an older sequence are "
                          "told their writes are gone");
    epoch = std::move(now.value());
    ++changes_;
}

}  // namespace partyline
