#include "bus/Bus.h"

#include <chrono>
#include <thread>

namespace partyline {

namespace {
// A replica that lags is usually a few writes behind for a few milliseconds: asked again after
// 20, 40, 80, 160, 320 and 640 ms (1.26 s in all) before the caller is told to try later.
}  // namespace

Result<bool> logHolds(Bus& bus, const std::string& subject, uint64_t since) {
    if (since == 0) return true;
    auto entries = bus.read(subject, since - 1, 1);
    if (!entries) return entries.status();
    return entries->empty() || entries->front().seq == since;
}

Result<std::vector<LogEntry>> readThrough(Bus& bus, const std::string& subject, uint64_t after, uint64_t upTo,
                                          size_t limit) {
    auto entries = bus.read(subject, after, limit);
    auto wait = kReplicaLagFirstWait;
    for (int retry = 0;; ++retry) {
        if (!entries || entries->size() >= limit) return entries;
        const uint64_t reached = entries->empty() ? after : entries->back().seq;
        if (reached >= upTo) return entries;
        auto next = bus.nextSequence(subject, reached);
        if (!next) return next.status().withContext("read " + subject);
        if (next.value() == 0 || next.value() > upTo) return entries;  // the rest is gone
        if (retry == kReplicaLagRetries)
            return Status(Code::Unavailable, "the log's replica that answers reads is behind its leader at " +
                                                 std::to_string(reached) + " of " + std::to_string(upTo));
        std::this_thread::sleep_for(wait);
        wait *= 2;
        auto more = bus.read(subject, reached, limit - entries->size());
        if (!more) return more.status();
        for (auto& entry : more.value()) entries->push_back(std::move(entry));
    }
}

}  // namespace partyline
