// The room API a script sees, over the in-memory bus: conn.state, conn.tags
// and room:connections(tag), room:connection(id), room:history, and presence:
// conn.presence (its 1 KiB limit, values JSON cannot hold, a reload),
// room:presence() and onPresence on two nodes.
#include <doctest/doctest.h>

#include <algorithm>

#include "rooms/RoomsTestSupport.h"

using namespace partyline;
using namespace partyline::testing;
using namespace std::chrono_literals;

namespace {

// Connections tag themselves from ?team= in onConnect; "who TAG" answers the
// sorted ids room:connections(TAG) lists (all of them for "who"), "peer ID"
// answers what ID's conn.state holds.
constexpr const char* kTeams = R"lua(
local Room = {}
function Room.onConnect(room, conn, req)
  conn.state.joined = req.query.name or conn.id
  if req.query.team then conn.tags = {req.query.team, "player"} end
end
function Room.onMessage(room, conn, message)
  local verb, arg = message:match("^(%a+) ?(.*)$")
  if verb == "who" then
    local ids = {}
    for _, c in ipairs(room:connections(arg ~= "" and arg or nil)) do ids[#ids + 1] = c.id end
    table.sort(ids)
    conn:send(table.concat(ids, ","))
  elseif verb == "peer" then
    local peer = room:connection(arg)
    conn:send(peer and tostring(peer.state.joined) .. " " .. tostring(peer.state.count) or "none")
  elseif verb == "count" then
    conn.state.count = (conn.state.count or 0) + 1
    conn:send(tostring(conn.state.count))
  elseif verb == "retag" then
    conn.tags = {arg}
    conn:send("ok")
  elseif verb == "badtag" then
    local ok, err = pcall(room.connections, room, {})
    conn:send(tostring(ok) .. " " .. tostring(err))
  end
end
return Room
)lua";

HttpRequest withQuery(std::map<std::string, std::string> query) {
    HttpRequest request;
    request.method = "GET";
    request.query = std::move(query);
    return request;
}

// Sends `message` from `client` and returns the next frame it receives.
std::string ask(Shard& shard, const std::shared_ptr<FakeClient>& client, const std::string& message) {
    size_t before = client->waitFor(0, 0ms).size();
    shard.receive(client, message, false);
    auto got = client->waitFor(before + 1);
    REQUIRE(got.size() == before + 1);
    return got.back().data;
}

}  // namespace

TEST_CASE("conn.state lasts the connection's life and other handlers read it with room:connection") {
    Rooms rooms(Scripts{{"t", kTeams}});
    auto shard = rooms.shard("t", "r");
    auto a = std::make_shared<FakeClient>("a"), b = std::make_shared<FakeClient>("b");
    shard->connect(a, withQuery({{"name", "alice"}}));
    shard->connect(b, {});
    CHECK(ask(*shard, a, "count") == "1");
    CHECK(ask(*shard, a, "count") == "2");
    CHECK(ask(*shard, b, "peer a") == "alice 2");  // set by a's onConnect and onMessage
    CHECK(ask(*shard, a, "peer b") == "b nil");
    CHECK(ask(*shard, a, "peer nobody") == "none");
    shard->disconnect(a, 1000, "");
    CHECK(ask(*shard, b, "peer a") == "none");  // closed connections are gone
}

TEST_CASE("room:connections(tag) lists only the connections whose conn.tags hold the tag") {
    Rooms rooms(Scripts{{"t", kTeams}});
    auto shard = rooms.shard("t", "r");
    auto red1 = std::make_shared<FakeClient>("red1"), red2 = std::make_shared<FakeClient>("red2");
    auto blue = std::make_shared<FakeClient>("blue"), watcher = std::make_shared<FakeClient>("watcher");
    shard->connect(red1, withQuery({{"team", "red"}}));
    shard->connect(red2, withQuery({{"team", "red"}}));
    shard->connect(blue, withQuery({{"team", "blue"}}));
    shard->connect(watcher, {});
    CHECK(ask(*shard, watcher, "who red") == "red1,red2");
    CHECK(ask(*shard, watcher, "who blue") == "blue");
    CHECK(ask(*shard, watcher, "who player") == "blue,red1,red2");
    CHECK(ask(*shard, watcher, "who green") == "");
    CHECK(ask(*shard, watcher, "who") == "blue,red1,red2,watcher");
    // Tags can change during the connection's life.
    CHECK(ask(*shard, red2, "retag blue") == "ok");
    CHECK(ask(*shard, watcher, "who blue") == "blue,red2");
    CHECK(ask(*shard, watcher, "who red") == "red1");
    // A tag must be a string.
    CHECK(ask(*shard, watcher, "badtag").find("false") == 0);
}

namespace {

// onStart reads the whole log a page at a time into `seen`; GET answers it,
// POST pages through room:history with the query's since and limit.
constexpr const char* kHistory = R"lua(
local Room = {}
local seen = {}
function Room.onStart(room)
  local since = 0
  while true do
    local page = assert(room:history{since = since, limit = 2})
    if #page == 0 then break end
    for _, e in ipairs(page) do seen[#seen + 1] = e.data; since = e.seq end
  end
end
local function describe(page, truncated)
  local out = {}
  for _, e in ipairs(page) do out[#out + 1] = e.seq .. "=" .. e.data .. (e.binary and "(b)" or "") end
  return table.concat(out, ",") .. (truncated and " truncated" or "")
end
function Room.onRequest(room, req)
  if req.method == "GET" then return table.concat(seen, ",") end
  if req.method == "PUT" then
    room:broadcast(req.body, {binary = req.query.binary == "1"})
    return "stored"
  end
  if req.query.bad then
    local ok, err = pcall(room.history, room, load("return " .. req.query.bad)())
    return tostring(ok) .. " " .. tostring(err)
  end
  if req.query.nested then
    local co = coroutine.create(function() return room:history{} end)
    local ok, err = coroutine.resume(co)
    return tostring(ok) .. " " .. tostring(err)
  end
  if req.query.all then return describe(room:history()) end
  if req.query.count then return tostring(#room:history{since = tonumber(req.query.since)}) end
  local page, truncated = room:history{since = tonumber(req.query.since), limit = tonumber(req.query.limit)}
  if not page then return {status = 503, body = truncated} end
  return describe(page, truncated)
end
return Room
)lua";

HttpRequest method(const std::string& name, std::map<std::string, std::string> query = {},
                   std::string body = {}) {
    HttpRequest request = withQuery(std::move(query));
    request.method = name;
    request.body = std::move(body);
    return request;
}

}  // namespace

TEST_CASE("room:history pages through the room's log with since and limit") {
    Rooms rooms(Scripts{{"h", kHistory}});
    auto shard = rooms.shard("h", "r");
    CHECK(rooms.request(shard, method("POST", {{"all", "1"}})).body == "");
    for (const char* word : {"a", "b", "c", "d"})
        CHECK(rooms.request(shard, method("PUT", {}, word)).body == "stored");
    CHECK(rooms.request(shard, method("PUT", {{"binary", "1"}}, std::string("\x01\x00", 2))).status == 200);
    std::string all = rooms.request(shard, method("POST", {{"all", "1"}})).body;
    // A string answer keeps its zero bytes.
    CHECK(all == "1=a,2=b,3=c,4=d,5=" + std::string("\x01\x00", 2) + "(b)");
    CHECK(rooms.request(shard, method("POST", {{"since", "1"}, {"limit", "2"}})).body == "2=b,3=c");
    CHECK(rooms.request(shard, method("POST", {{"since", "4"}, {"limit", "10"}})).body.rfind("5=", 0) == 0);
    CHECK(rooms.request(shard, method("POST", {{"since", "5"}})).body == "");
    // Another room's writes are not in this room's log.
    auto other = rooms.shard("h", "other");
    CHECK(rooms.request(other, method("PUT", {}, "elsewhere")).body == "stored");
    CHECK(rooms.request(shard, method("POST", {{"since", "5"}})).body == "");
    CHECK(rooms.request(other, method("POST", {{"all", "1"}})).body == "6=elsewhere");
}

TEST_CASE("a shard that starts rehydrates from room:history in onStart") {
    Rooms rooms(Scripts{{"h", kHistory}});
    auto first = rooms.shard("h", "game");
    for (const char* word : {"e2e4", "e7e5", "g1f3", "b8c6", "f1b5"})
        REQUIRE(rooms.request(first, method("PUT", {}, word)).body == "stored");
    CHECK(rooms.request(first, method("GET")).body == "");  // it started before the writes
    // Another node's registry over the same log: a new shard of the same room.
    RoomRegistry otherNode(*rooms.context, *rooms.parties);
    auto second = otherNode.shard("h", "game");
    REQUIRE(second.isOk());
    CHECK(rooms.request(second.value(), method("GET")).body == "e2e4,e7e5,g1f3,b8c6,f1b5");
}

TEST_CASE("history reads waiting on the log hold back neither other rooms nor the room's deliveries") {
    Rooms rooms(Scripts{{"h", kHistory}});
    auto a = rooms.shard("h", "a"), b = rooms.shard("h", "b"), other = rooms.shard("h", "other");
    for (const auto& shard : {a, b, other})
        REQUIRE(rooms.request(shard, method("GET")).status == 200);  // started
    auto client = std::make_shared<FakeClient>("c");
    a->connect(client, {});

    // As many reads waiting on a slow log as the shards' executor has threads.
    rooms.bus.holdReads(true);
    std::promise<HttpResponse> answeredA, answeredB;
    a->request(method("POST", {{"all", "1"}}), [&](HttpResponse r) { answeredA.set_value(std::move(r)); });
    b->request(method("POST", {{"all", "1"}}), [&](HttpResponse r) { answeredB.set_value(std::move(r)); });
    REQUIRE(eventually([&] { return rooms.bus.readsWaiting() == 2; }));

    CHECK(rooms.request(other, method("PUT", {}, "meanwhile")).body == "stored");
    rooms.bus.publish(a->subjects().log, "while reading", {}, [](Result<uint64_t>) {});
    CHECK(texts(client->waitFor(1)) == std::vector<std::string>{"while reading"});
    auto futureA = answeredA.get_future(), futureB = answeredB.get_future();
    CHECK(futureA.wait_for(50ms) == std::future_status::timeout);

    rooms.bus.holdReads(false);
    REQUIRE(futureA.wait_for(3s) == std::future_status::ready);
    REQUIRE(futureB.wait_for(3s) == std::future_status::ready);
    CHECK(futureA.get().body == "2=while reading");
    CHECK(futureB.get().body == "");
}

TEST_CASE("room:history says when retention dropped writes after since") {
    Rooms rooms(Scripts{{"h", kHistory}}, Limits{}, 2);
    auto shard = rooms.shard("h", "r");
    for (const char* word : {"a", "b", "c", "d"})
        REQUIRE(rooms.request(shard, method("PUT", {}, word)).body == "stored");
    CHECK(rooms.request(shard, method("POST", {{"since", "1"}})).body == "3=c,4=d truncated");
    CHECK(rooms.request(shard, method("POST", {{"since", "3"}})).body == "4=d");
    CHECK(rooms.request(shard, method("POST", {{"since", "0"}})).body == "3=c,4=d");
}

TEST_CASE("room:history returns nil and the reason when the log cannot be read") {
    Rooms rooms(Scripts{{"h", kHistory}});
    auto shard = rooms.shard("h", "r");
    REQUIRE(rooms.request(shard, method("PUT", {}, "a")).body == "stored");
    rooms.bus.setAvailable(false);
    auto response = rooms.request(shard, method("POST", {{"since", "0"}}));
    CHECK(response.status == 503);
    CHECK(response.body.find("unavailable") != std::string::npos);
    rooms.bus.setAvailable(true);
    CHECK(rooms.request(shard, method("POST", {{"since", "0"}})).body == "1=a");
}

TEST_CASE("room:history refuses bad arguments and calls from a nested coroutine") {
    Rooms rooms(Scripts{{"h", kHistory}});
    auto shard = rooms.shard("h", "r");
    auto bad = [&](const std::string& args) {
        return rooms.request(shard, method("POST", {{"bad", args}})).body;
    };
    CHECK(bad("{limit = 0}").find("limit must be 1..1000, got 0") != std::string::npos);
    CHECK(bad("{limit = 1001}").find("limit must be 1..1000") != std::string::npos);
    CHECK(bad("{since = -1}").find("since must be 0 or a sequence") != std::string::npos);
    CHECK(bad("{since = 'x'}").find("since must be an integer, got string") != std::string::npos);
    CHECK(bad("{limit = 1.5}").find("limit must be an integer") != std::string::npos);
    CHECK(bad("'since'").find("table expected") != std::string::npos);
    CHECK(
        rooms.request(shard, method("POST", {{"nested", "1"}})).body.find("must be called from a handler") !=
        std::string::npos);
    // The shard keeps serving.
    CHECK(rooms.request(shard, method("POST", {{"all", "1"}})).status == 200);
}

TEST_CASE("a room:history page stops at half the script's memory cap, but holds at least one entry") {
    Limits limits;
    limits.lua_memory_bytes = 4 << 20;
    limits.max_history_page_bytes = 64 << 20;  // the memory cap is the lower bound here
    Rooms rooms(Scripts{{"h", kHistory}}, limits);
    auto shard = rooms.shard("h", "r");
    std::string big(900 << 10, 'x');  // 900 KiB: two fit under 2 MiB, three do not
    for (int i = 0; i < 4; ++i) REQUIRE(rooms.request(shard, method("PUT", {}, big)).body == "stored");
    auto count = [](Rooms& in, const std::shared_ptr<Shard>& s, const char* since) {
        return in.request(s, method("POST", {{"count", "1"}, {"since", since}})).body;
    };
    CHECK(count(rooms, shard, "0") == "2");
    CHECK(count(rooms, shard, "2") == "2");
    CHECK(count(rooms, shard, "4") == "0");
    limits.lua_memory_bytes = 1 << 20;
    Rooms small(Scripts{{"h", kHistory}}, limits);
    auto tiny = small.shard("h", "r");
    REQUIRE(small.request(tiny, method("PUT", {}, std::string(600 << 10, 'y'))).body == "stored");
    REQUIRE(small.request(tiny, method("PUT", {}, std::string(600 << 10, 'y'))).body == "stored");
    CHECK(count(small, tiny, "0") == "1");
    CHECK(count(small, tiny, "1") == "1");
}

TEST_CASE("a room:history page ends at limits.max_history_page_bytes of encoded entries, and says more") {
    constexpr const char* kPages = R"lua(
local Room = {}
function Room.onRequest(room, req)
  if req.method == "PUT" then room:broadcast(req.body) return "stored" end
  local page, truncated, more = room:history{since = tonumber(req.query.since)}
  local seqs = {}
  for _, e in ipairs(page) do seqs[#seqs + 1] = e.seq .. ":" .. #e.data end
  return table.concat(seqs, ",") .. (more and " more" or "")
end
return Room
)lua";
    Limits limits;
    limits.max_history_page_bytes = 64 << 10;
    Rooms rooms(Scripts{{"p", kPages}}, limits);
    auto shard = rooms.shard("p", "r");
    // 10 KiB of control bytes each: 60 KiB encoded (\u0001), so one per 64 KiB page.
    const std::string control(10 << 10, '\x01');
    for (int i = 0; i < 3; ++i) REQUIRE(rooms.request(shard, method("PUT", {}, control)).body == "stored");
    // 2 KiB of plain text each: about 30 fit in 64 KiB.
    for (int i = 0; i < 40; ++i)
        REQUIRE(rooms.request(shard, method("PUT", {}, std::string(2 << 10, 'a'))).body == "stored");
    auto page = [&](const char* since) {
        return rooms.request(shard, method("GET", {{"since", since}})).body;
    };
    CHECK(page("0") == "1:10240 more");
    CHECK(page("1") == "2:10240 more");
    // The third leaves room for one 2 KiB entry.
    CHECK(page("2") == "3:10240,4:2048 more");
    std::string texts = page("4");
    CHECK(texts.rfind("5:2048,6:2048", 0) == 0);
    CHECK(texts.find(" more") != std::string::npos);
    const size_t onPage = size_t(std::count(texts.begin(), texts.end(), ',')) + 1;
    CHECK(onPage * (2 << 10) <= limits.max_history_page_bytes);
    CHECK(onPage > 20);
    // The last page has no "more".
    CHECK(page("40").find(" more") == std::string::npos);
    CHECK(page("43") == "");
}

TEST_CASE("room.env holds the party's env values, read-only, listed by pairs") {
    constexpr const char* kEnv = R"lua(
local Room = {}
function Room.onMessage(room, conn, message)
  if message == "get" then
    conn:send(tostring(room.env.API_URL) .. " " .. tostring(room.env.MISSING))
  elseif message == "set" then
    local ok, err = pcall(function() room.env.API_URL = "changed" end)
    conn:send(tostring(ok) .. " " .. tostring(err) .. " " .. room.env.API_URL)
  elseif message == "list" then
    local names = {}
    for name, value in pairs(room.env) do names[#names + 1] = name .. "=" .. value end
    table.sort(names)
    conn:send(table.concat(names, ","))
  elseif message == "meta" then
    local ok = pcall(setmetatable, room.env, {})
    conn:send(tostring(getmetatable(room.env)) .. " " .. tostring(ok))
  end
end
return Room
)lua";
    Rooms rooms(Scripts{{"e", kEnv}, {"plain", kEnv}}, {}, SIZE_MAX, {},
                {{"e", {{"API_URL", "https://api.example.com"}, {"TOKEN", "s3cret"}}}});
    auto shard = rooms.shard("e", "r");
    auto a = std::make_shared<FakeClient>("a");
    shard->connect(a, {});
    CHECK(ask(*shard, a, "get") == "https://api.example.com nil");
    std::string set = ask(*shard, a, "set");
    CHECK(set.rfind("false ", 0) == 0);
    CHECK(set.find("room.env is read-only") != std::string::npos);
    CHECK(set.substr(set.size() - 23) == "https://api.example.com");
    CHECK(ask(*shard, a, "list") == "API_URL=https://api.example.com,TOKEN=s3cret");
    CHECK(ask(*shard, a, "meta") == "false false");
    // A party without env gets an empty one.
    auto other = rooms.shard("plain", "r");
    auto b = std::make_shared<FakeClient>("b");
    other->connect(b, {});
    CHECK(ask(*other, b, "list") == "");
}

namespace {

// conn.presence set from messages ("name X", "big N": a string of N bytes, "fn": a function,
// "clear"); "mine" answers the connection's conn.presence as JSON, "list" room:presence(),
// "seen" the view onPresence built, "calls" how many onPresence calls came.
constexpr const char* kPresence = R"lua(
local Room = {}
local seen, calls = {}, 0
local function line(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = k .. "=" .. t[k] end
  return table.concat(out, " ")
end
local function info(e) return e.info ~= nil and json.encode(e.info) or "nil" end
function Room.onConnect(room, conn, req)
  if req.query.name then conn.presence = {name = req.query.name} end
end
function Room.onMessage(room, conn, message)
  local verb, arg = message:match("^(%a+) ?(.*)$")
  if verb == "name" then conn.presence = {name = arg}
  elseif verb == "big" then conn.presence = {blob = string.rep("x", tonumber(arg))}
  elseif verb == "fn" then conn.presence = {f = print}
  elseif verb == "clear" then conn.presence = nil
  elseif verb == "other" then room:connection(arg).presence = "set by " .. conn.id
  elseif verb == "mine" then return conn:send(conn.presence ~= nil and json.encode(conn.presence) or "nil")
  elseif verb == "list" then
    local t = {}
    for _, e in ipairs(room:presence()) do t[e.node .. "/" .. e.id] = info(e) end
    return conn:send(line(t))
  elseif verb == "seen" then return conn:send(line(seen))
  elseif verb == "calls" then return conn:send(tostring(calls))
  end
  conn:send("ok")
end
function Room.onPresence(room, change)
  calls = calls + 1
  for _, e in ipairs(change.left) do seen[e.node .. "/" .. e.id] = nil end
  for _, e in ipairs(change.joined) do seen[e.node .. "/" .. e.id] = info(e) end
end
return Room
)lua";

}  // namespace

TEST_CASE("conn.presence set in a handler is in room:presence() once the handler returned") {
    Rooms rooms(Scripts{{"p", kPresence}});
    auto shard = rooms.shard("p", "r");
    auto a = std::make_shared<FakeClient>("a"), b = std::make_shared<FakeClient>("b");
    shard->connect(a, withQuery({{"name", "Ann"}}));
    shard->connect(b, {});
    CHECK(ask(*shard, b, "list") == R"(node-a/a={"name":"Ann"} node-a/b=nil)");
    CHECK(ask(*shard, a, "name Bo") == "ok");
    CHECK(ask(*shard, b, "list") == R"(node-a/a={"name":"Bo"} node-a/b=nil)");
    // Another connection's table, reached through room:connection, is read too.
    CHECK(ask(*shard, a, "other b") == "ok");
    CHECK(ask(*shard, b, "list") == R"(node-a/a={"name":"Bo"} node-a/b="set by a")");
    CHECK(ask(*shard, a, "clear") == "ok");
    CHECK(ask(*shard, b, "list") == R"(node-a/a=nil node-a/b="set by a")");
    shard->disconnect(a, 1000, "");
    CHECK(ask(*shard, b, "list") == R"(node-a/b="set by a")");
    CHECK(eventually([&] { return ask(*shard, b, "seen") == R"(node-a/b="set by a")"; }));
    CHECK(ask(*shard, b, "calls") != "0");
}

TEST_CASE("conn.presence over 1 KiB as JSON, or that JSON cannot hold, is refused and set back") {
    Rooms rooms(Scripts{{"p", kPresence}});
    auto shard = rooms.shard("p", "r");
    auto a = std::make_shared<FakeClient>("a");
    shard->connect(a, withQuery({{"name", "Ann"}}));
    // {"blob":"..."} is 11 bytes and the string: 1013 bytes of it is exactly the 1024-byte limit.
    CHECK(ask(*shard, a, "big 1013") == "ok");
    CHECK(ask(*shard, a, "mine").size() == 1024);
    CHECK(ask(*shard, a, "name Ann") == "ok");
    uint64_t errors = rooms.context->luaErrors.load();
    CHECK(ask(*shard, a, "big 1014") == "ok");
    CHECK(ask(*shard, a, "mine") == R"({"name":"Ann"})");  // the value before
    CHECK(rooms.context->luaErrors.load() == errors + 1);
    CHECK(ask(*shard, a, "fn") == "ok");
    CHECK(ask(*shard, a, "mine") == R"({"name":"Ann"})");
    CHECK(rooms.context->luaErrors.load() == errors + 2);
    CHECK(ask(*shard, a, "list") == R"(node-a/a={"name":"Ann"})");
}

TEST_CASE("room:presence() and onPresence see the connections of every node") {
    Rooms rooms(Scripts{{"p", kPresence}});
    OtherNode other(rooms, "node-b");
    auto here = rooms.shard("p", "r");
    auto there = other.shard("p", "r");
    auto a = std::make_shared<FakeClient>("a"), b = std::make_shared<FakeClient>("b");
    here->connect(a, withQuery({{"name", "Ann"}}));
    there->connect(b, withQuery({{"name", "Bo"}}));
    const std::string both = R"(node-a/a={"name":"Ann"} node-b/b={"name":"Bo"})";
    CHECK(eventually([&] { return ask(*here, a, "list") == both && ask(*there, b, "list") == both; }));
    CHECK(eventually([&] { return ask(*here, a, "seen") == both && ask(*there, b, "seen") == both; }));
    CHECK(ask(*there, b, "name Cy") == "ok");
    CHECK(eventually(
        [&] { return ask(*here, a, "seen") == R"(node-a/a={"name":"Ann"} node-b/b={"name":"Cy"})"; }));
    there->disconnect(b, 1000, "");
    CHECK(eventually([&] { return ask(*here, a, "list") == R"(node-a/a={"name":"Ann"})"; }));
    CHECK(eventually([&] { return ask(*here, a, "seen") == R"(node-a/a={"name":"Ann"})"; }));
    CHECK(here->totalCount() == 1);
}

TEST_CASE("conn.presence outlives a reload: the new state's conn tables hold what was announced") {
    Rooms rooms(Scripts{{"p", kPresence}});
    auto shard = rooms.shard("p", "r");
    auto a = std::make_shared<FakeClient>("a");
    shard->connect(a, withQuery({{"name", "Ann"}}));
    CHECK(ask(*shard, a, "mine") == R"({"name":"Ann"})");
    Party* party = rooms.parties->find("p");
    std::ofstream(party->script()->path) << kPresence << "\n-- edited\n";
    REQUIRE(party->reloadIfChanged(true));
    CHECK(rooms.registry->reload("p", party->script()) == 1);
    CHECK(ask(*shard, a, "mine") == R"({"name":"Ann"})");
    CHECK(ask(*shard, a, "list") == R"(node-a/a={"name":"Ann"})");
}
