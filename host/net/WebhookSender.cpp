#include "net/WebhookSender.h"

#include <array>
#include <atomic>
#include <deque>
#include <mutex>
#include <vector>

#include "core/Crypto.h"
#include "core/Log.h"
#include "core/Metrics.h"

namespace partyline::net {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

enum Loss { QueueFull, Rejected, GaveUp, kLosses };
constexpr const char* kLossNames[kLosses] = {"queue_full", "rejected", "retries_exhausted"};

int64_t unixMillis() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

// 8 random bytes per sender, then a count: ids unique across nodes and restarts.
std::string idPrefix() {
    unsigned char bytes[8] = {};
    crypto::randomBytes(bytes, sizeof bytes);
    char hex[2 * sizeof bytes];
    crypto::hexTo(bytes, sizeof bytes, hex);
    return std::string(hex, sizeof hex) + "-";
}

}  // namespace

struct WebhookSender::State : std::enable_shared_from_this<State> {
    struct Job {
        std::string body;
        const WebhookTarget* target = nullptr;
        int attempts = 0;
        Clock::time_point first{};
    };
    struct Room {
        std::deque<Job> jobs;  // the front one is being sent or waits for its retry
        uint64_t retryTimer = 0;
    };

    State(std::map<std::string, WebhookTarget> targetsIn, std::string nodeIdIn, Send sendIn, Timer& timerIn,
          WebhookLimits limitsIn)
        : targets(std::move(targetsIn)),
          nodeId(std::move(nodeIdIn)),
          send(std::move(sendIn)),
          timer(timerIn),
          limits(limitsIn),
          prefix(idPrefix()) {}

    const std::map<std::string, WebhookTarget> targets;
    const std::string nodeId;
    const Send send;
    Timer& timer;
    const WebhookLimits limits;
    const std::string prefix;
    std::atomic<uint64_t> nextId{1};
    std::atomic<uint64_t> deliveries{0};
    std::atomic<uint64_t> retries{0};
    std::array<std::atomic<uint64_t>, kLosses> losses{};

    mutable std::mutex mutex;           // guards everything below
    std::map<std::string, Room> rooms;  // by "party/room"; a room with nothing queued is absent
    size_t queued = 0;
    bool stopping = false;

    void lose(Loss loss, const std::string& party) {
        uint64_t count = ++losses[loss];
        // A backend that is away loses many: the first and then every thousandth is enough to see.
        if (count % 1000 == 1)
            log::warn("webhook", "event lost",
                      {{"party", party}, {"reason", kLossNames[loss]}, {"count", std::to_string(count)}});
    }

    // Sends the front event of `key`. Any thread; takes the lock.
    void attempt(const std::string& key) {
        FetchRequest request;
        {
            std::lock_guard lock(mutex);
            auto room = rooms.find(key);
            if (stopping || room == rooms.end()) return;
            Job& job = room->second.jobs.front();
            room->second.retryTimer = 0;
            if (job.attempts++ == 0) job.first = Clock::now();
            int64_t timestamp = unixMillis() / 1000;
            request.url = job.target->url;
            request.method = "POST";
            request.headers = {
                {"Content-Type", "application/json"},
                {"User-Agent", "partyline-webhook"},
                {"X-Partyline-Timestamp", std::to_string(timestamp)},
                {"X-Partyline-Signature", webhookSignature(job.target->secret, timestamp, job.body)},
            };
            request.body = job.body;
            request.timeout_ms = int(limits.retry.attempt_timeout.count());
            request.instead = job.target->policy;
        }
        send(std::move(request),
             [self = shared_from_this(), key](Result<FetchResponse> answer) { self->answered(key, answer); });
    }

    // The Fetcher's thread: the front event of `key` was answered.
    void answered(const std::string& key, const Result<FetchResponse>& answer) {
        WebhookVerdict verdict = webhookVerdict(answer);
        {
            std::lock_guard lock(mutex);
            auto room = rooms.find(key);
            if (stopping || room == rooms.end()) return;
            Job& job = room->second.jobs.front();
            if (verdict == WebhookVerdict::Retry) {
                auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - job.first);
                if (auto delay = webhookRetryDelay(limits.retry, job.attempts, elapsed)) {
                    ++retries;
                    room->second.retryTimer =
                        timer.after(*delay, [self = shared_from_this(), key] { self->attempt(key); });
                    return;
                }
                lose(GaveUp, key.substr(0, key.find('/')));
            } else if (verdict == WebhookVerdict::Lost) {
                lose(Rejected, key.substr(0, key.find('/')));
            } else {
                ++deliveries;
            }
            room->second.jobs.pop_front();
            --queued;
            if (room->second.jobs.empty()) {
                rooms.erase(room);
                return;
            }
        }
        attempt(key);
    }
};

WebhookSender::WebhookSender(std::map<std::string, WebhookTarget> targets, std::string nodeId, Send send,
                             Timer& timer, WebhookLimits limits)
    : state_(std::make_shared<State>(std::move(targets), std::move(nodeId), std::move(send), timer, limits)) {
}

WebhookSender::~WebhookSender() {
    std::vector<uint64_t> timers;
    {
        std::lock_guard lock(state_->mutex);
        state_->stopping = true;
        for (const auto& [key, room] : state_->rooms)
            if (room.retryTimer) timers.push_back(room.retryTimer);
    }
    // A retry that already started finds stopping set and returns; cancel waits for it.
    for (uint64_t id : timers) state_->timer.cancel(id);
}

bool WebhookSender::wants(const std::string& party, WebhookEventKind kind) const {
    auto it = state_->targets.find(party);
    return it != state_->targets.end() && it->second.events.count(kind) > 0;
}

void WebhookSender::post(WebhookEvent event) {
    auto target = state_->targets.find(event.party);
    if (target == state_->targets.end() || target->second.events.count(event.kind) == 0) return;
    event.id = state_->prefix + std::to_string(state_->nextId++);
    event.node = state_->nodeId;
    if (event.atMs == 0) event.atMs = unixMillis();
    std::string key = event.party + "/" + event.room;
    {
        std::lock_guard lock(state_->mutex);
        if (state_->stopping) return;
        if (state_->queued >= state_->limits.max_queued) return state_->lose(QueueFull, event.party);
        ++state_->queued;
        auto& room = state_->rooms[key];
        room.jobs.push_back({webhookBody(event), &target->second});
        if (room.jobs.size() > 1) return;  // it goes after the one in flight
    }
    state_->attempt(key);
}

uint64_t WebhookSender::deliveries() const {
    return state_->deliveries.load();
}

uint64_t WebhookSender::retries() const {
    return state_->retries.load();
}

uint64_t WebhookSender::failures() const {
    uint64_t total = 0;
    for (const auto& count : state_->losses) total += count.load();
    return total;
}

size_t WebhookSender::queued() const {
    std::lock_guard lock(state_->mutex);
    return state_->queued;
}

void WebhookSender::writeMetrics(Metrics& out) const {
    out.counter("partyline_webhook_deliveries_total", "Room events a webhook receiver answered with a 2xx.",
                deliveries());
    out.counter("partyline_webhook_retries_total", "Webhook attempts that failed and were tried again.",
                retries());
    for (int loss = 0; loss < kLosses; ++loss)
        out.counter(
            "partyline_webhook_failures_total",
            "Room events lost: the queue was full, the receiver refused them, or every attempt failed.",
            state_->losses[loss].load(), {{"reason", kLossNames[loss]}});
    out.gauge("partyline_webhook_queued", "Room events waiting for their webhook delivery on this node.",
              queued());
}

}  // namespace partyline::net
