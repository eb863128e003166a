#include "rooms/Presence.h"

#include <cstdlib>

namespace partyline {
namespace {

// A node re-announces its connection count this often, and is forgotten
// after three missed announcements.
constexpr auto kAnnounceEvery = std::chrono::seconds(5);
constexpr auto kRemoteExpiry = std::chrono::seconds(15);
// Connection changes within this window go out as one announcement.
constexpr std::chrono::milliseconds kAnnounceDelay{10};

}  // namespace

Presence::Presence(ShardContext& context, Strand& strand, std::string subject)
    : context_(context), strand_(strand), subject_(std::move(subject)) {}

Presence::~Presence() = default;

// Messages: "<node> <count>" announces a count; "? <node>" asks every node to announce.
void Presence::start() {
    if (subscription_ || stopped_) return;
    // Bus thread: post to the strand, keeping the owner alive until the task ran.
    auto sub = context_.bus.subscribeEphemeral(subject_, [this, owner = owner_](std::string message) {
        if (auto keep = owner.lock())
            strand_.post([this, keep, message = std::move(message)] { receive(message); });
    });
    if (!sub) return;
    subscription_ = std::move(sub.value());
    context_.bus.publishEphemeral(subject_, "? " + context_.nodeId);
}

void Presence::receive(const std::string& message) {
    size_t space = message.find(' ');
    if (space == std::string::npos || stopped_) return;
    std::string first = message.substr(0, space), rest = message.substr(space + 1);
    if (first == "?") {
        if (rest != context_.nodeId) announce();
        return;
    }
    if (first == context_.nodeId) return;
    char* end = nullptr;
    unsigned long long count = std::strtoull(rest.c_str(), &end, 10);
    if (end == rest.c_str()) return;
    if (count == 0)
        remotes_.erase(first);
    else
        remotes_[first] = {size_t(count), Clock::now()};
    recount();
}

void Presence::recount() {
    size_t remote = 0;
    for (const auto& [node, r] : remotes_) remote += r.count;
    remoteCount_ = remote;
    totalCount_ = local_ + remote;
}

void Presence::announce() {
    announceScheduled_ = false;
    lastAnnounce_ = Clock::now();
    size_t local = stopped_ ? 0 : local_;
    context_.bus.publishEphemeral(subject_, context_.nodeId + " " + std::to_string(local));
}

void Presence::localChanged(size_t count) {
    local_ = count;
    recount();
    if (announceScheduled_) return;
    announceScheduled_ = true;
    // Timer thread: post to the strand, keeping the owner alive until the task ran.
    context_.timer.after(kAnnounceDelay, [this, owner = owner_] {
        if (auto keep = owner.lock()) strand_.post([this, keep] { announce(); });
    });
}

void Presence::heartbeat() {
    if (stopped_) return;
    auto now = Clock::now();
    for (auto it = remotes_.begin(); it != remotes_.end();)
        it = now - it->second.seen > kRemoteExpiry ? remotes_.erase(it) : std::next(it);
    recount();
    if (now - lastAnnounce_ >= kAnnounceEvery) announce();
}

void Presence::stop() {
    if (stopped_) return;
    stopped_ = true;
    announce();  // count 0: other nodes forget this one now
    subscription_.reset();
}

}  // namespace partyline
