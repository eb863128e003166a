#include "rooms/RoomLinks.h"

#include <memory>
#include <mutex>
#include <utility>

#include "rooms/RoomRegistry.h"
#include "rooms/ShardRouter.h"

namespace partyline {

// One call: answered once, by the target's answer or by its timer.
struct RoomLinks::Call {
    std::atomic<bool> taken{false};
    Answered done;
    bool finish(Result<HttpResponse> result) {
        if (taken.exchange(true)) return false;
        done(std::move(result));
        done = nullptr;
        return true;
    }
};

namespace {

// The writes of one broadcast to a router room: answered once all are stored.
struct Pending {
    std::mutex mutex;
    std::vector<uint64_t> sequences;
    size_t left = 0;
    bool failed = false;
    RoomLinks::Written done;
};

}  // namespace

void RoomLinks::request(const std::string& party, const std::string& room, HttpRequest request,
                        std::chrono::milliseconds timeout, Answered done) {
    std::shared_lock lock(mutex_);
    if (closed_) return done(Status(Code::Unavailable, "stopped"));
    const Party* target = parties_.find(party);
    if (!target) return done(Status(Code::NotFound, "unknown party '" + party + "'"));
    if (target->isRouter())
        return done(
            Status(Code::InvalidArgument, "party '" + party + "' is a router: call one of its rooms " + room +
                                              "-1.." + room + "-" + std::to_string(target->router().shards)));
    auto shard = rooms_.shard(party, room);
    if (!shard) return done(shard.status());
    // Whichever comes first, the answer or the timer, answers; the other finds it taken. The
    // timer is left to fire (the answer may come on a strand after the node's timer is gone).
    auto call = std::make_shared<Call>();
    call->done = std::move(done);
    timer_.after(timeout, [call] { call->finish(Status(Code::Timeout, "timeout")); });
    shard.value()->request(std::move(request),
                           [call](HttpResponse response) { call->finish(std::move(response)); });
}

void RoomLinks::broadcast(const std::string& party, const std::string& room, std::string data, bool binary,
                          Written done) {
    std::shared_lock lock(mutex_);
    if (closed_) return done(Status(Code::Unavailable, "stopped"));
    const Party* target = parties_.find(party);
    if (!target) return done(Status(Code::NotFound, "unknown party '" + party + "'"));
    std::vector<std::string> targets{room};
    std::string targetParty = party;
    if (target->isRouter()) {
        targets = ShardRouter(target->router(), rooms_).shardRooms(room);
        targetParty = target->router().target;
    }
    auto pending = std::make_shared<Pending>();
    pending->sequences.resize(targets.size());
    pending->left = targets.size();
    pending->done = std::move(done);
    for (size_t i = 0; i < targets.size(); ++i) {
        auto subjects = rooms_.subjects(targetParty, targets[i]);
        PublishOptions options;
        options.binary = binary;
        options.msgId = nodeId_ + "-link-" + std::to_string(++writes_);
        auto written = [pending, i](Result<uint64_t> seq) {
            Written answer;
            Result<std::vector<uint64_t>> result = std::vector<uint64_t>{};
            {
                std::lock_guard lock(pending->mutex);
                if (pending->failed) return;
                if (!seq) {
                    pending->failed = true;
                    answer = std::move(pending->done);
                    result = seq.status();
                } else {
                    pending->sequences[i] = seq.value();
                    if (--pending->left > 0) return;
                    answer = std::move(pending->done);
                    result = pending->sequences;
                }
            }
            answer(std::move(result));
        };
        if (!subjects) {
            written(subjects.status());
            continue;
        }
        bus_.publish(subjects->log, data, std::move(options), std::move(written));
    }
}

bool RoomLinks::isRouter(const std::string& party) const {
    const Party* target = parties_.find(party);
    return target && target->isRouter();
}

void RoomLinks::close() {
    std::unique_lock lock(mutex_);
    closed_ = true;
}

}  // namespace partyline
