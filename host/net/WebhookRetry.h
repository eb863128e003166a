// WebhookRetry: when a webhook delivery is done, worth another attempt, or lost.
//
// Pure: the verdict on one attempt's answer and the delay before the next, from the attempt
// count and the time since the first attempt. The delays double (1 s, 2 s, 4 s, 8 s by default)
// and stop at the attempt cap or at the total bound, whichever comes first, so one event holds
// its room's place in the queue for a bounded time.
//
// Must not: sleep, send or read a clock.
#pragma once

#include <chrono>
#include <optional>

#include "core/Status.h"
#include "net/Fetcher.h"

namespace partyline::net {

struct WebhookRetryPolicy {
    // Five attempts over a minute ride out a backend's restart or deploy without holding a room's
    // later events much longer.
    int max_attempts = 5;
    std::chrono::milliseconds first_delay{1000};  // then doubled at each retry
    std::chrono::milliseconds max_total{60000};   // from the first attempt to the start of the last
    // One attempt, capped by fetch.timeout_ms: a receiver should answer at once and work later.
    std::chrono::milliseconds attempt_timeout{10000};
};

enum class WebhookVerdict {
    Delivered,  // a 2xx answer
    Retry,      // 408, 429, 5xx, a timeout, a refused or cut connection, a TLS failure, busy
    Lost,       // any other answer (a 4xx says the receiver will not take it), or a bad request
};

WebhookVerdict webhookVerdict(const Result<FetchResponse>& answer);

// The wait before attempt `attempts + 1`, after `attempts` failed ones and `elapsed` since the
// first began; nothing when the event is lost instead.
std::optional<std::chrono::milliseconds> webhookRetryDelay(const WebhookRetryPolicy& policy, int attempts,
                                                           std::chrono::milliseconds elapsed);

}  // namespace partyline::net
