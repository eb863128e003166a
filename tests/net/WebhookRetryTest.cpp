// WebhookRetry: which answers are worth another attempt, and the doubling delays that stop at the
// attempt cap or the total bound. No clock, no network.
#include <doctest/doctest.h>

#include "net/WebhookRetry.h"

namespace partyline::net {
namespace {

using std::chrono::milliseconds;

Result<FetchResponse> answer(int status) {
    FetchResponse response;
    response.status = status;
    return response;
}

Result<FetchResponse> failure(const char* why) {
    return Status(Code::Unavailable, why);
}

TEST_CASE("a 2xx is delivered; 408, 429 and 5xx are tried again; other answers are lost") {
    for (int status : {200, 201, 202, 204, 299})
        CHECK(webhookVerdict(answer(status)) == WebhookVerdict::Delivered);
    for (int status : {408, 429, 500, 502, 503, 504})
        CHECK(webhookVerdict(answer(status)) == WebhookVerdict::Retry);
    for (int status : {300, 301, 400, 401, 403, 404, 410, 413, 422})
        CHECK(webhookVerdict(answer(status)) == WebhookVerdict::Lost);
}

TEST_CASE("the network's failures are tried again; a request the node will never send is lost") {
    for (const char* why : {"timeout", "connect: Connection refused", "tls: certificate", "busy"})
        CHECK(webhookVerdict(failure(why)) == WebhookVerdict::Retry);
    for (const char* why :
         {"not allowed: host x", "bad url", "bad header", "too large", "too many redirects", "stopped"})
        CHECK(webhookVerdict(failure(why)) == WebhookVerdict::Lost);
}

TEST_CASE("delays double from the first and stop after max_attempts") {
    WebhookRetryPolicy policy;
    CHECK(webhookRetryDelay(policy, 1, milliseconds(0)) == milliseconds(1000));
    CHECK(webhookRetryDelay(policy, 2, milliseconds(1000)) == milliseconds(2000));
    CHECK(webhookRetryDelay(policy, 3, milliseconds(3000)) == milliseconds(4000));
    CHECK(webhookRetryDelay(policy, 4, milliseconds(7000)) == milliseconds(8000));
    CHECK_FALSE(webhookRetryDelay(policy, 5, milliseconds(15000)).has_value());
    CHECK_FALSE(webhookRetryDelay(policy, 0, milliseconds(0)).has_value());
}

TEST_CASE("no attempt starts past max_total from the first") {
    WebhookRetryPolicy policy;
    // Attempts that each waited their 10 s timeout: the fourth would start past a minute.
    CHECK(webhookRetryDelay(policy, 3, milliseconds(56000)) == milliseconds(4000));
    CHECK_FALSE(webhookRetryDelay(policy, 3, milliseconds(56001)).has_value());
    policy.max_attempts = 100;
    policy.first_delay = milliseconds(10);
    policy.max_total = milliseconds(1000);
    int attempts = 1;
    milliseconds elapsed{0};
    while (auto delay = webhookRetryDelay(policy, attempts, elapsed)) elapsed += *delay, ++attempts;
    CHECK(attempts == 7);  // 10+20+40+80+160+320 = 630; 640 more would pass 1000
    CHECK(elapsed == milliseconds(630));
}

}  // namespace
}  // namespace partyline::net
