// WebhookSender: the queue bound, one event in flight per room in order, retries, losses and the
// request each attempt makes, with a recording stand-in for the Fetcher and the real Timer.
#include <doctest/doctest.h>

#include <condition_variable>
#include <mutex>
#include <vector>

#include "core/Json.h"
#include "core/Metrics.h"
#include "net/WebhookSender.h"

namespace partyline::net {
namespace {

using namespace std::chrono_literals;

// The Fetcher's part: records each request; the test answers them.
class FakeFetch {
   public:
    WebhookSender::Send send() {
        return [this](FetchRequest request, Fetcher::Done done) {
            std::lock_guard lock(mutex_);
            calls_.push_back({std::move(request), std::move(done)});
            changed_.notify_all();
        };
    }
    // Waits (bounded by count, not by speed: 30 s is a hang) until `n` calls were made.
    bool waitFor(size_t n) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, 30s, [&] { return calls_.size() >= n; });
    }
    size_t count() {
        std::lock_guard lock(mutex_);
        return calls_.size();
    }
    FetchRequest request(size_t i) {
        std::lock_guard lock(mutex_);
        return calls_.at(i).request;
    }
    void answer(size_t i, Result<FetchResponse> result) {
        Fetcher::Done done;
        {
            std::lock_guard lock(mutex_);
            done = std::move(calls_.at(i).done);
        }
        done(std::move(result));
    }
    void answer(size_t i, int status) {
        FetchResponse response;
        response.status = status;
        answer(i, response);
    }

   private:
    struct Call {
        FetchRequest request;
        Fetcher::Done done;
    };
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Call> calls_;
};

std::map<std::string, WebhookTarget> targets(std::set<WebhookEventKind> events = {
                                                 WebhookEventKind::RoomStarted, WebhookEventKind::RoomIdle,
                                                 WebhookEventKind::Connect, WebhookEventKind::Close}) {
    WebhookTarget target{"http://127.0.0.1:9/hook", std::move(events), "secret",
                         FetchPolicy::exactly("http://127.0.0.1:9/hook").value()};
    return {{"game", target}};
}

WebhookEvent connect(const std::string& room, const std::string& connection) {
    WebhookEvent event;
    event.kind = WebhookEventKind::Connect;
    event.party = "game";
    event.room = room;
    event.connection = connection;
    return event;
}

std::string header(const FetchRequest& request, const std::string& name) {
    for (const auto& [key, value] : request.headers)
        if (key == name) return value;
    return "";
}

std::string field(const FetchRequest& request, const std::string& name) {
    auto json = parseJson(request.body);
    REQUIRE(json.isOk());
    const JsonValue* value = json->find(name);
    return value && value->asString() ? *value->asString() : "";
}

WebhookLimits fast() {
    WebhookLimits limits;
    limits.retry.first_delay = 1ms;
    return limits;
}

TEST_CASE("a signed POST of the event to the URL, through a policy of exactly its host and port") {
    Timer timer;
    FakeFetch fetch;
    WebhookSender sender(targets(), "node-a", fetch.send(), timer);
    sender.post(connect("r1", "c1"));
    REQUIRE(fetch.waitFor(1));
    FetchRequest request = fetch.request(0);
    CHECK(request.method == "POST");
    CHECK(request.url == "http://127.0.0.1:9/hook");
    CHECK(header(request, "Content-Type") == "application/json");
    std::string timestamp = header(request, "X-Partyline-Timestamp");
    REQUIRE_FALSE(timestamp.empty());
    CHECK(header(request, "X-Partyline-Signature") ==
          webhookSignature("secret", std::stoll(timestamp), request.body));
    CHECK(field(request, "event") == "connect");
    CHECK(field(request, "node") == "node-a");
    CHECK(field(request, "connection") == "c1");
    CHECK_FALSE(field(request, "id").empty());
    REQUIRE(request.instead);
    CHECK(request.instead->check("http://127.0.0.1:9/other").isOk());
    CHECK_FALSE(request.instead->check("http://127.0.0.1:10/hook").isOk());
    fetch.answer(0, 204);
    CHECK(sender.deliveries() == 1);
    CHECK(sender.queued() == 0);
}

TEST_CASE("only the party's listed events are posted") {
    Timer timer;
    FakeFetch fetch;
    WebhookSender sender(targets({WebhookEventKind::Close}), "node-a", fetch.send(), timer);
    CHECK_FALSE(sender.wants("game", WebhookEventKind::Connect));
    CHECK(sender.wants("game", WebhookEventKind::Close));
    CHECK_FALSE(sender.wants("chat", WebhookEventKind::Close));
    sender.post(connect("r1", "c1"));
    auto other = connect("r1", "c1");
    other.party = "chat";
    sender.post(other);
    CHECK(sender.queued() == 0);
    CHECK(fetch.count() == 0);
}

TEST_CASE("a room's events go one at a time in order; rooms do not wait for each other") {
    Timer timer;
    FakeFetch fetch;
    WebhookSender sender(targets(), "node-a", fetch.send(), timer);
    sender.post(connect("r1", "first"));
    sender.post(connect("r1", "second"));
    sender.post(connect("r2", "other"));
    REQUIRE(fetch.waitFor(2));
    CHECK(fetch.count() == 2);
    CHECK(field(fetch.request(0), "connection") == "first");
    CHECK(field(fetch.request(1), "connection") == "other");
    CHECK(sender.queued() == 3);
    fetch.answer(0, 200);
    REQUIRE(fetch.waitFor(3));
    CHECK(field(fetch.request(2), "connection") == "second");
    fetch.answer(1, 200);
    fetch.answer(2, 200);
    CHECK(sender.deliveries() == 3);
    CHECK(sender.queued() == 0);
}

TEST_CASE("past max_queued an event is lost and counted, whatever the room") {
    Timer timer;
    FakeFetch fetch;
    WebhookLimits limits;
    limits.max_queued = 3;
    WebhookSender sender(targets(), "node-a", fetch.send(), timer, limits);
    for (int i = 0; i < 5; ++i) sender.post(connect(i % 2 ? "r1" : "r2", "c" + std::to_string(i)));
    CHECK(sender.queued() == 3);
    CHECK(sender.failures() == 2);
    Metrics metrics;
    sender.writeMetrics(metrics);
    CHECK(metrics.text().find("partyline_webhook_failures_total{reason=\"queue_full\"} 2") !=
          std::string::npos);
    CHECK(metrics.text().find("partyline_webhook_queued 3") != std::string::npos);
    REQUIRE(fetch.waitFor(2));
    fetch.answer(0, 200);  // room r2's first: room is made again
    sender.post(connect("r3", "late"));
    CHECK(sender.failures() == 2);
}

TEST_CASE("a 503 or a refused connection is tried again, re-signed; the event then arrives") {
    Timer timer;
    FakeFetch fetch;
    WebhookSender sender(targets(), "node-a", fetch.send(), timer, fast());
    sender.post(connect("r1", "c1"));
    REQUIRE(fetch.waitFor(1));
    fetch.answer(0, 503);
    REQUIRE(fetch.waitFor(2));
    fetch.answer(1, Status(Code::Unavailable, "connect: Connection refused"));
    REQUIRE(fetch.waitFor(3));
    FetchRequest third = fetch.request(2);
    CHECK(third.body == fetch.request(0).body);  // the same event, the same id
    CHECK(header(third, "X-Partyline-Signature") ==
          webhookSignature("secret", std::stoll(header(third, "X-Partyline-Timestamp")), third.body));
    fetch.answer(2, 200);
    CHECK(sender.deliveries() == 1);
    CHECK(sender.retries() == 2);
    CHECK(sender.failures() == 0);
}

TEST_CASE("a 4xx is not tried again, and the room's next event goes") {
    Timer timer;
    FakeFetch fetch;
    WebhookSender sender(targets(), "node-a", fetch.send(), timer, fast());
    sender.post(connect("r1", "refused"));
    sender.post(connect("r1", "next"));
    REQUIRE(fetch.waitFor(1));
    fetch.answer(0, 401);
    REQUIRE(fetch.waitFor(2));
    CHECK(field(fetch.request(1), "connection") == "next");
    CHECK(sender.failures() == 1);
    CHECK(sender.retries() == 0);
    Metrics metrics;
    sender.writeMetrics(metrics);
    CHECK(metrics.text().find("partyline_webhook_failures_total{reason=\"rejected\"} 1") !=
          std::string::npos);
}

TEST_CASE("after max_attempts the event is lost and counted") {
    Timer timer;
    FakeFetch fetch;
    WebhookLimits limits = fast();
    limits.retry.max_attempts = 3;
    WebhookSender sender(targets(), "node-a", fetch.send(), timer, limits);
    sender.post(connect("r1", "c1"));
    for (size_t i = 0; i < 3; ++i) {
        REQUIRE(fetch.waitFor(i + 1));
        fetch.answer(i, Status(Code::Unavailable, "timeout"));
    }
    CHECK(sender.failures() == 1);
    CHECK(sender.queued() == 0);
    Metrics metrics;
    sender.writeMetrics(metrics);
    CHECK(metrics.text().find("partyline_webhook_failures_total{reason=\"retries_exhausted\"} 1") !=
          std::string::npos);
}

TEST_CASE("destroyed with a retry pending and an answer still due: neither runs into it") {
    Timer timer;
    FakeFetch fetch;
    {
        WebhookLimits limits;
        limits.retry.first_delay = 1h;
        WebhookSender sender(targets(), "node-a", fetch.send(), timer, limits);
        sender.post(connect("r1", "c1"));
        sender.post(connect("r2", "c2"));
        REQUIRE(fetch.waitFor(2));
        fetch.answer(0, 503);  // waits an hour for its retry
    }
    fetch.answer(1, 200);  // the sender is gone: ignored
    CHECK(fetch.count() == 2);
}

}  // namespace
}  // namespace partyline::net
