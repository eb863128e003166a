#include "rooms/RoomRegistry.h"

#include <vector>

#include "bus/Partition.h"
#include "core/Log.h"
#include "rooms/RoomEvents.h"

namespace partyline {

RoomRegistry::RoomRegistry(ShardContext& context, const Parties& parties)
    : context_(context), parties_(parties), admission_(context.limits) {
    scheduleSweep();
}

RoomRegistry::~RoomRegistry() {
    uint64_t timer;
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        timer = sweepTimer_;
    }
    context_.timer.cancel(timer);
    std::lock_guard lock(mutex_);
    for (auto& [key, shard] : shards_) shard->stop();
    shards_.clear();
}

Result<RoomSubjects> RoomRegistry::subjects(const std::string& party, const std::string& roomId) const {
    if (!parties_.find(party)) return Status(Code::NotFound, "no party named '" + party + "'");
    auto partyToken = encodeSubjectToken(party);
    if (!partyToken) return partyToken.status();
    auto roomToken = encodeSubjectToken(roomId);
    if (!roomToken) return roomToken.status().withContext("room id");
    const int partitions = context_.partitions;
    return roomSubjects(context_.subjectPrefix, partyToken.value(), roomToken.value(),
                        partitionOf(party, roomId, partitions), partitions);
}

Result<std::shared_ptr<Shard>> RoomRegistry::shard(const std::string& party, const std::string& roomId) {
    return lookUp(party, roomId, nullptr);
}

Result<std::shared_ptr<Shard>> RoomRegistry::open(const std::string& party, const std::string& roomId,
                                                  const std::string& clientAddress) {
    return lookUp(party, roomId, &clientAddress);
}

Result<std::shared_ptr<Shard>> RoomRegistry::lookUp(const std::string& party, const std::string& roomId,
                                                    const std::string* clientAddress) {
    auto key = std::make_pair(party, roomId);
    {
        std::lock_guard lock(mutex_);
        auto it = shards_.find(key);
        if (it != shards_.end()) return it->second;
    }
    auto subj = subjects(party, roomId);
    if (!subj) return subj.status();
    std::lock_guard lock(mutex_);
    if (auto it = shards_.find(key); it != shards_.end()) return it->second;
    if (clientAddress) {
        Status admitted = admission_.admit(shards_.size(), *clientAddress, RoomAdmission::Clock::now());
        if (!admitted) return admitted;
    }
    auto [it, inserted] = shards_.try_emplace(key);
    if (inserted) {
        it->second = Shard::create(context_, *parties_.find(party), roomId, std::move(subj.value()));
        log::debug("rooms", "shard started", {{"room", party + "/" + roomId}});
        postRoomEvent(context_, net::WebhookEventKind::RoomStarted, party, roomId);
    }
    return it->second;
}

std::shared_ptr<Shard> RoomRegistry::find(const std::string& party, const std::string& roomId) const {
    std::lock_guard lock(mutex_);
    auto it = shards_.find(std::make_pair(party, roomId));
    return it == shards_.end() ? nullptr : it->second;
}

size_t RoomRegistry::reload(const std::string& party, const std::shared_ptr<const Script>& script) {
    std::lock_guard lock(mutex_);
    size_t count = 0;
    for (auto& [key, shard] : shards_) {
        if (key.first != party) continue;
        shard->reload(script);
        ++count;
    }
    return count;
}

size_t RoomRegistry::size() const {
    std::lock_guard lock(mutex_);
    return shards_.size();
}

size_t RoomRegistry::sweepIdle() {
    std::vector<std::shared_ptr<Shard>> idle;
    {
        std::lock_guard lock(mutex_);
        for (auto it = shards_.begin(); it != shards_.end();) {
            if (it->second->idleFor(context_.limits.idle_room_seconds)) {
                idle.push_back(std::move(it->second));
                it = shards_.erase(it);
            } else {
                ++it;
            }
        }
    }
    for (auto& shard : idle) {
        log::debug("rooms", "shard closed (idle)", {{"room", shard->partyName() + "/" + shard->roomId()}});
        shard->stop();
        postRoomEvent(context_, net::WebhookEventKind::RoomIdle, shard->partyName(), shard->roomId());
    }
    return idle.size();
}

void RoomRegistry::heartbeat() {
    std::lock_guard lock(mutex_);
    for (auto& [key, shard] : shards_) shard->heartbeat();
}

void RoomRegistry::catchUpAfterReconnect() {
    uint64_t reconnects = context_.bus.reconnects();
    if (reconnects == reconnectsSeen_) return;
    reconnectsSeen_ = reconnects;
    std::lock_guard lock(mutex_);
    for (auto& [key, shard] : shards_) shard->catchUp();
}

void RoomRegistry::scheduleSweep() {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    sweepTimer_ = context_.timer.after(std::chrono::seconds(1), [this] {
        catchUpAfterReconnect();
        sweepIdle();
        heartbeat();
        scheduleSweep();
    });
}

}  // namespace partyline
