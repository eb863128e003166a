// WebhookSender: the node's room events on their way to the app's backend (parties.X.webhook).
//
// post() only queues: a room or a handler never waits for a backend. Events wait in one bounded
// queue per node (WebhookLimits::max_queued, counted over every room); each room's events are
// sent one at a time, in the order they were posted, so a receiver sees a room's connect before
// its close. Each attempt is a POST through the node's Fetcher with a policy of exactly the
// configured URL's host and port (FetchPolicy::exactly), signed anew with the attempt's
// timestamp (WebhookEvent); an attempt that may pass is tried again after WebhookRetry's delay.
// An event that does not fit the queue, is refused (a 4xx other than 408 and 429) or runs out of
// attempts is lost, and counted in partyline_webhook_failures_total{reason}.
//
// Threads: post and writeMetrics from any thread; answers arrive on the Fetcher's thread and
// retries on the Timer's, and both only take the lock and hand the next attempt to the Fetcher.
// Must not: block, call into Lua, or log a secret. Destroy it before the Fetcher and the Timer.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/Timer.h"
#include "net/Fetcher.h"
#include "net/WebhookEvent.h"
#include "net/WebhookRetry.h"

namespace partyline {
class Metrics;
}

namespace partyline::net {

// Where one party's events go (from parties.X.webhook).
struct WebhookTarget {
    std::string url;
    std::set<WebhookEventKind> events;
    std::string secret;                         // the HMAC key; never logged
    std::shared_ptr<const FetchPolicy> policy;  // FetchPolicy::exactly(url)
};

struct WebhookLimits {
    // Per node, events of every room: about a minute of a busy node's joins and leaves while the
    // backend is away, at a few hundred bytes each.
    size_t max_queued = 10000;
    WebhookRetryPolicy retry;
};

class WebhookSender {
   public:
    // How an attempt leaves the node: Fetcher::fetch, or a stand-in in tests.
    using Send = std::function<void(FetchRequest, Fetcher::Done)>;

    // `targets` by party name. `nodeId` goes into every event.
    WebhookSender(std::map<std::string, WebhookTarget> targets, std::string nodeId, Send send, Timer& timer,
                  WebhookLimits limits = {});
    // Stops: queued events are dropped, retries cancelled, answers still due are ignored.
    ~WebhookSender();
    WebhookSender(const WebhookSender&) = delete;
    WebhookSender& operator=(const WebhookSender&) = delete;

    // Any thread: whether `party` posts `kind` at all, so a caller builds no event for nothing.
    bool wants(const std::string& party, WebhookEventKind kind) const;
    // Any thread: queues the event (its id, node and time are filled in here). Never blocks.
    void post(WebhookEvent event);

    // Any thread: the counts, and partyline_webhook_* as metrics.
    uint64_t deliveries() const;
    uint64_t retries() const;
    uint64_t failures() const;
    size_t queued() const;
    void writeMetrics(Metrics& out) const;

   private:
    struct State;

    std::shared_ptr<State> state_;  // shared with the answers and retries still on their way
};

}  // namespace partyline::net
