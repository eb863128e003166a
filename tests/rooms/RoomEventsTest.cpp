// RoomEvents: what the registry and a shard post to the node's WebhookSender — room.started on
// the first touch, connect and close with the connection's claims, room.idle after the sweep —
// in that order for one room. The in-memory bus, a fake connection and a recording stand-in for
// the Fetcher that answers 204 at once.
#include <doctest/doctest.h>

#include <mutex>

#include "core/Json.h"
#include "net/WebhookSender.h"
#include "rooms/RoomEvents.h"
#include "rooms/RoomsTestSupport.h"

namespace partyline::testing {
namespace {

const char* kQuiet = R"(
local Room = {}
function Room.onMessage(room, conn, message) room:broadcast(message) end
return Room
)";

class ClaimedClient : public FakeClient {
   public:
    ClaimedClient(std::string id, std::string claims)
        : FakeClient(std::move(id)), claims_(std::move(claims)) {}
    const std::string& auth() const override { return claims_; }

   private:
    std::string claims_;
};

// Every body posted, in order; each answered 204 on the spot.
struct Posted {
    std::mutex mutex;
    std::vector<std::string> bodies;
    net::WebhookSender::Send send() {
        return [this](net::FetchRequest request, net::Fetcher::Done done) {
            {
                std::lock_guard lock(mutex);
                bodies.push_back(request.body);
            }
            net::FetchResponse response;
            response.status = 204;
            done(response);
        };
    }
    std::vector<JsonValue> events() {
        std::lock_guard lock(mutex);
        std::vector<JsonValue> out;
        for (const auto& body : bodies) out.push_back(parseJson(body).value());
        return out;
    }
};

std::string text(const JsonValue& event, const char* key) {
    const JsonValue* value = event.find(key);
    return value && value->asString() ? *value->asString() : "";
}

net::WebhookTarget target(std::set<net::WebhookEventKind> events) {
    return {"http://127.0.0.1:9/hook", std::move(events), "secret",
            net::FetchPolicy::exactly("http://127.0.0.1:9/hook").value()};
}

TEST_CASE("a room's life: room.started, connect and close with the claims, then room.idle") {
    Limits limits;
    limits.idle_room_seconds = std::chrono::seconds(1);
    // Declared before the rooms, so they outlive every shard that posts to them.
    Timer timer;
    Posted posted;
    net::WebhookSender sender(
        {{"game", target({net::WebhookEventKind::RoomStarted, net::WebhookEventKind::RoomIdle,
                          net::WebhookEventKind::Connect, net::WebhookEventKind::Close})}},
        "node-a", posted.send(), timer);
    Rooms rooms(Scripts{{"game", kQuiet}, {"other", kQuiet}}, limits);
    rooms.context->webhooks = &sender;

    auto shard = rooms.shard("game", "r1");
    rooms.shard("other", "r1");  // no webhook: nothing posted
    auto client = std::make_shared<ClaimedClient>("c1", R"({"sub":"alice"})");
    shard->connect(client, {});
    shard->disconnect(client, 1001, "going away");
    shard.reset();
    REQUIRE(eventually([&] { return posted.events().size() == 4; }, 10s));

    auto events = posted.events();
    CHECK(text(events[0], "event") == "room.started");
    CHECK(text(events[1], "event") == "connect");
    CHECK(text(events[2], "event") == "close");
    CHECK(text(events[3], "event") == "room.idle");
    for (const auto& event : events) {
        CHECK(text(event, "party") == "game");
        CHECK(text(event, "room") == "r1");
        CHECK(text(event, "node") == "node-a");
    }
    CHECK(text(events[1], "connection") == "c1");
    REQUIRE(events[1].find("auth"));
    CHECK(text(*events[1].find("auth"), "sub") == "alice");
    CHECK(text(events[2], "reason") == "going away");
    REQUIRE(events[2].find("code"));
    CHECK(events[2].find("code")->asInteger() == 1001);
    CHECK(sender.deliveries() == 4);
}

TEST_CASE("only the kinds the party lists are built and posted") {
    Timer timer;
    Posted posted;
    net::WebhookSender sender({{"game", target({net::WebhookEventKind::Close})}}, "node-a", posted.send(),
                              timer);
    Rooms rooms(Scripts{{"game", kQuiet}});
    rooms.context->webhooks = &sender;
    auto shard = rooms.shard("game", "r1");
    auto client = std::make_shared<FakeClient>("c1");
    shard->connect(client, {});
    shard->disconnect(client, 1000, "");
    REQUIRE(eventually([&] { return posted.events().size() == 1; }, 10s));
    auto events = posted.events();
    CHECK(text(events[0], "event") == "close");
    CHECK(events[0].find("auth") == nullptr);
}

}  // namespace
}  // namespace partyline::testing
