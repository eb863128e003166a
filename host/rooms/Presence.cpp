#include "rooms/Presence.h"

#include "core/Crypto.h"
#include "core/Log.h"

namespace partyline {
namespace {

// 16 random bytes in hex: a restarted shard on the same node is a new instance to the others.
std::string newEpoch() {
    unsigned char bytes[16] = {};
    if (!crypto::randomBytes(bytes, sizeof bytes)) {  // a clock value still differs between instances
        auto now = uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
        for (size_t i = 0; i < 8; ++i) bytes[i] = uint8_t(now >> (8 * i));
    }
    char hex[32];
    crypto::hexTo(bytes, sizeof bytes, hex);
    return std::string(hex, sizeof hex);
}

}  // namespace

Presence::Presence(ShardContext& context, Strand& strand, std::string subject, bool countsOnly)
    : context_(context),
      strand_(strand),
      subject_(std::move(subject)),
      epoch_(newEpoch()),
      countsOnly_(countsOnly),
      roster_(context.nodeId),
      started_(Clock::now()) {}

Presence::~Presence() = default;

// The timer's callback for `task`: on the timer thread, post to the strand, keeping the owner
// alive until the task ran.
std::function<void()> Presence::onStrand(std::function<void()> task) {
    return [this, owner = owner_, task = std::move(task)] {
        if (auto keep = owner.lock()) strand_.post([keep, task] { task(); });
    };
}

void Presence::after(std::chrono::milliseconds delay, std::function<void()> task) {
    context_.timer.after(delay, onStrand(std::move(task)));
}

void Presence::afterOnGrid(std::chrono::milliseconds step, std::function<void()> task) {
    context_.timer.afterOnGrid(step, onStrand(std::move(task)));
}

void Presence::start() {
    if (subscription_ || stopped_) return;
    // Bus thread: post to the strand, keeping the owner alive until the task ran.
    auto sub = context_.bus.subscribeEphemeral(subject_, [this, owner = owner_](std::string message) {
        if (auto keep = owner.lock())
            strand_.post([this, keep, message = std::move(message)] { receive(message); });
    });
    if (!sub) return;
    subscription_ = std::move(sub.value());
    started_ = Clock::now();
    ask("");
}

void Presence::ask(const std::string& of) {
    PresenceMessage m;
    m.kind = PresenceMessage::Kind::Ask;
    m.node = context_.nodeId;
    m.of = of;
    context_.bus.publishEphemeral(subject_, encodePresence(m));
}

void Presence::receive(const std::string& text) {
    if (stopped_) return;
    auto message = decodePresence(text);
    if (!message) {
        log::debug("presence", message.status().message(), {{"subject", subject_}});
        return;
    }
    if (message->kind == PresenceMessage::Kind::Ask) {
        if (message->node != context_.nodeId && (message->of.empty() || message->of == context_.nodeId))
            announceFull();
        return;
    }
    auto heard = roster_.receive(message.value(), Clock::now());
    recount();
    if (heard == PresenceRoster::Heard::OutOfStep) {
        auto now = Clock::now();
        auto [last, first] = asked_.try_emplace(message->node, now);
        if (first || now - last->second >= kAskEvery) {
            last->second = now;
            ask(message->node);
        }
    }
    if (heard == PresenceRoster::Heard::Changed) viewChanged();
}

void Presence::recount() {
    size_t remote = roster_.count();
    remoteCount_ = remote;
    totalCount_ = local_.size() + remote;
}

void Presence::localJoined(const std::string& id) {
    local_[id] = std::string();
    localChanged(id);
}

void Presence::localLeft(const std::string& id) {
    if (local_.erase(id)) localChanged(id);
}

void Presence::localInfo(const std::string& id, std::string info) {
    auto it = local_.find(id);
    if (it == local_.end() || it->second == info) return;
    it->second = std::move(info);
    localChanged(id);
}

void Presence::localChanged(const std::string& id) {
    recount();
    // Counts only: a changed info changes nothing announced, and the others hold no list.
    if (countsOnly_ && announcedOnce_ && local_.size() == announcedCount_) return;
    if (!countsOnly_) {
        dirty_.insert(id);
        viewChanged();
    }
    if (announceScheduled_ || stopped_) return;
    announceScheduled_ = true;
    // On the timer's grid: every room joined within one step announces in one wake-up of the
    // timer (a storm of new rooms would wake it once per room), 10-20 ms after the change.
    afterOnGrid(kAnnounceDelay, [this] { announce(); });
}

// What changed since the last announcement, as a diff; the whole list when the diff would not
// fit one message, or the others have not heard this instance yet.
void Presence::announce() {
    announceScheduled_ = false;
    if (stopped_) return;
    if (countsOnly_) {
        if (!announcedOnce_ || local_.size() != announcedCount_) announceCount();
        return;
    }
    if (!announcedOnce_) return announceFull();
    PresenceMessage m;
    m.kind = PresenceMessage::Kind::Diff;
    m.node = context_.nodeId;
    m.epoch = epoch_;
    m.base = version_;
    m.version = version_ + 1;
    m.count = local_.size();
    // Only the connections that changed since: a diff costs what changed, not the room's size.
    for (const auto& id : dirty_) {
        auto now = local_.find(id);
        auto before = announced_.find(id);
        if (now == local_.end()) {
            if (before != announced_.end()) m.gone.push_back(id);
        } else if (before == announced_.end() || before->second != now->second) {
            m.set.push_back({id, now->second});
        }
    }
    if (m.set.empty() && m.gone.empty()) return dirty_.clear();
    std::string text = encodePresence(m);
    if (text.size() > kMaxPresenceMessageBytes) return announceFull();
    version_ = m.version;
    for (const auto& id : m.gone) announced_.erase(id);
    for (const auto& item : m.set) announced_[item.id] = item.info;
    dirty_.clear();
    context_.bus.publishEphemeral(subject_, std::move(text));
}

void Presence::announceFull() {
    if (countsOnly_) return announceCount();
    ++version_;
    announced_ = stopped_ ? std::map<std::string, std::string>() : local_;
    dirty_.clear();
    announcedOnce_ = true;
    lastFull_ = Clock::now();
    for (auto& part : encodeFullList(context_.nodeId, epoch_, version_, announced_))
        context_.bus.publishEphemeral(subject_, std::move(part));
}

// The count alone, whatever the number of connections: a stopping node announces 0.
void Presence::announceCount() {
    PresenceMessage m;
    m.kind = PresenceMessage::Kind::Count;
    m.node = context_.nodeId;
    m.epoch = epoch_;
    m.version = ++version_;
    m.count = stopped_ ? 0 : local_.size();
    announcedCount_ = m.count;
    announcedOnce_ = true;
    lastFull_ = Clock::now();
    context_.bus.publishEphemeral(subject_, encodePresence(m));
}

void Presence::heartbeat() {
    if (stopped_) return;
    auto now = Clock::now();
    if (roster_.forgetSilent(now, kRemoteExpiry)) viewChanged();
    for (auto it = asked_.begin(); it != asked_.end();)
        it = now - it->second > kRemoteExpiry ? asked_.erase(it) : std::next(it);
    recount();
    if (now - lastFull_ >= kAnnounceEvery) announceFull();
}

void Presence::stop() {
    if (stopped_) return;
    stopped_ = true;
    announceFull();  // an empty list: other nodes forget this one now
    subscription_.reset();
}

PresenceView Presence::view() const {
    PresenceView view;
    if (countsOnly_) return view;
    for (const auto& [id, info] : local_) view.emplace(std::make_pair(context_.nodeId, id), info);
    roster_.addTo(view);
    return view;
}

std::vector<PresenceEntry> Presence::entries() const {
    std::vector<PresenceEntry> out;
    for (const auto& [key, info] : view()) out.push_back({key.second, key.first, info});
    return out;
}

// Runs `then` once the other nodes had kGatherWindow since this shard started to be heard.
void Presence::afterGathered(std::function<void()> then) {
    auto waited = Clock::now() - started_;
    if (waited >= kGatherWindow || stopped_) return then();
    after(std::chrono::ceil<std::chrono::milliseconds>(kGatherWindow - waited), std::move(then));
}

void Presence::snapshot(std::function<void(std::vector<PresenceEntry>)> answer) {
    afterGathered([this, answer = std::move(answer)] { answer(entries()); });
}

std::map<std::string, size_t> Presence::counts() const {
    auto out = roster_.counts();
    if (!local_.empty()) out[context_.nodeId] = local_.size();
    return out;
}

void Presence::countSnapshot(std::function<void(std::map<std::string, size_t>)> answer) {
    afterGathered([this, answer = std::move(answer)] { answer(counts()); });
}

void Presence::viewChanged() {
    if (countsOnly_ || !listener_ || notifyScheduled_ || stopped_ || (wanted_ && !wanted_())) return;
    notifyScheduled_ = true;
    after(kNotifyDelay, [this] { notify(); });
}

void Presence::notify() {
    notifyScheduled_ = false;
    if (stopped_ || !listener_) return;
    PresenceView now = view();
    PresenceChange change = diffViews(notified_, now);
    notified_ = std::move(now);
    if (!change.empty()) listener_(std::move(change));
}

}  // namespace partyline
