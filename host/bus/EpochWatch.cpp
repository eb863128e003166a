#include "bus/EpochWatch.h"

#include "core/Log.h"
#include "core/ThreadName.h"

namespace partyline {

EpochWatch::EpochWatch(std::string first, std::string name, Read read, std::chrono::milliseconds period)
    : name_(std::move(name)), read_(std::move(read)), period_(period), epoch_(std::move(first)) {
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

std::string EpochWatch::current() const {
    std::lock_guard lock(mutex_);
    return epoch_;
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
        if (stopping_) break;
        soon_ = false;
        lock.unlock();
        auto now = read_();  // a failure (NATS away) is asked again next time
        lock.lock();
        if (!now || now->empty() || *now == epoch_) continue;
        log::warn("nats", "stream " + name_ + " began again (epoch " + epoch_ + " -> " + *now +
                              "): its sequences start over, and clients resuming after an older sequence are "
                              "told their writes are gone");
        epoch_ = std::move(now.value());
        ++changes_;
    }
}

}  // namespace partyline
