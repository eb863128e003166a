#include "net/WebhookRetry.h"

#include <algorithm>
#include <string_view>

namespace partyline::net {

WebhookVerdict webhookVerdict(const Result<FetchResponse>& answer) {
    if (answer) {
        int status = answer->status;
        if (status >= 200 && status < 300) return WebhookVerdict::Delivered;
        if (status == 408 || status == 429 || status >= 500) return WebhookVerdict::Retry;
        return WebhookVerdict::Lost;
    }
    // The Fetcher's reasons: the network's and the node's own load may pass; bad input does not.
    std::string_view why = answer.status().message();
    for (std::string_view transient : {"timeout", "connect:", "tls:", "busy"})
        if (why.starts_with(transient)) return WebhookVerdict::Retry;
    return WebhookVerdict::Lost;
}

std::optional<std::chrono::milliseconds> webhookRetryDelay(const WebhookRetryPolicy& policy, int attempts,
                                                           std::chrono::milliseconds elapsed) {
    if (attempts < 1 || attempts >= policy.max_attempts) return std::nullopt;
    auto delay = policy.first_delay * (int64_t(1) << std::min(attempts - 1, 20));
    if (elapsed + delay > policy.max_total) return std::nullopt;
    return delay;
}

}  // namespace partyline::net
