// room.parties over the in-memory bus: a call to another room's onRequest and its answer, a write
// into another room's log, an unknown party, a room calling itself and a cycle of two rooms
// answered "cycle" at once, a callee slower than the caller's timeout, and the mistakes that raise.
#include <doctest/doctest.h>

#include "net/HttpTestServer.h"
#include "rooms/RoomsTestSupport.h"

using namespace partyline;
using namespace partyline::testing;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPing = R"lua(
local Room = {}
local function show(res, err)
  if not res then return "nil " .. tostring(err) end
  if type(res) ~= "table" then return tostring(res) end
  return res.status .. " " .. res.body .. " " .. tostring(res.headers["x-room"])
end
function Room.onRequest(room, req)
  local q = req.query
  if q.op == "call" then
    return show(room.parties[q.party or "ping"]:get(q.to):fetch("/hello", {
      method = "POST", body = "hi", query = {op = "answer", from = room.id}, headers = {["X-Test"] = "t"},
      timeout_ms = q.timeout_ms and math.tointeger(tonumber(q.timeout_ms)) or nil}))
  elseif q.op == "answer" then
    return {status = 201, headers = {["X-Room"] = room.id},
            body = req.method .. " " .. req.rest .. " " .. req.body .. " " .. q.from .. " " .. req.headers["x-test"]}
  elseif q.op == "self" then
    return show(room.parties.ping:get(room.id):fetch("/"))
  elseif q.op == "via" then
    return show(room.parties.ping:get(q.to):fetch("/", {query = {op = "back", to = room.id}}))
  elseif q.op == "back" then
    return show(room.parties.ping:get(q.to):fetch("/", {query = {op = "answer", from = "never"}}))
  elseif q.op == "write" then
    return show(room.parties.ping:get(q.to):broadcast({from = room.id}))
  elseif q.op == "slow" then
    return show(fetch(q.url))
  elseif q.op == "mistakes" then
    local out = {}
    for _, call in ipairs({
      function() return room.parties.ping:get(""):fetch("/") end,
      function() return room.parties.ping:get("r"):fetch("no-slash") end,
      function() return room.parties.ping:get("r"):fetch("/a?b=1") end,
      function() return room.parties.ping:get("r"):fetch("/", {nope = 1}) end,
      function() return room.parties.ping:get("r"):broadcast(42) end,
    }) do
      local ok, err = pcall(call)
      out[#out + 1] = tostring(err):gsub("^[^:]*/", "")
    end
    return table.concat(out, "\n")
  end
  return "no op"
end
return Room
)lua";

}  // namespace

TEST_CASE("fetch calls another room's onRequest and answers status, headers and body") {
    Rooms rooms(Scripts{{"ping", kPing}});
    CHECK(rooms.answer(rooms.shard("ping", "a"), {{"op", "call"}, {"to", "b"}}) ==
          "201 POST /hello hi a t b");
    // An unknown party, refused without a room.
    CHECK(rooms.answer(rooms.shard("ping", "a"), {{"op", "call"}, {"to", "b"}, {"party", "nope"}}) ==
          "nil unknown party 'nope'");
}

TEST_CASE("broadcast writes into another room's log and answers its sequence") {
    Rooms rooms(Scripts{{"ping", kPing}});
    auto target = rooms.shard("ping", "b");
    REQUIRE(target->waitUntilReady(3s));
    auto client = std::make_shared<FakeClient>("c");
    target->connect(client, {});
    CHECK(rooms.answer(rooms.shard("ping", "a"), {{"op", "write"}, {"to", "b"}}) == "1");
    CHECK(texts(client->waitFor(1)) == std::vector<std::string>{R"({"from":"a"})"});
}

TEST_CASE("a room calling itself, or a cycle of two rooms, answers cycle at once instead of deadlocking") {
    Rooms rooms(Scripts{{"ping", kPing}});
    CHECK(rooms.answer(rooms.shard("ping", "a"), {{"op", "self"}}) == "nil cycle");
    // a calls b, whose handler calls a back: b gets "cycle" and answers it to a.
    CHECK(rooms.answer(rooms.shard("ping", "a"), {{"op", "via"}, {"to", "b"}}) == "200 nil cycle nil");
    // b calling a on its own is no cycle.
    CHECK(rooms.answer(rooms.shard("ping", "b"), {{"op", "call"}, {"to", "a"}}) ==
          "201 POST /hello hi b t a");
}

TEST_CASE("a callee that answers after the caller's timeout: timeout, and the caller goes on") {
    std::atomic<bool> release{false};
    net::test::HttpTestServer server(
        [&](const net::test::HttpRequest&, net::test::HttpTestServer::Exchange& ex) {
            while (!release && ex.sleep(5ms)) {
            }
            ex.write(net::test::httpResponse(200, "late"));
        });
    Rooms rooms(Scripts{{"ping", kPing}});
    net::FetchLimits limits;
    limits.allow = {"127.0.0.1:" + std::to_string(server.port())};
    rooms.enableFetch(limits);
    auto waiting = rooms.shard("ping", "b");
    std::promise<HttpResponse> slow;
    waiting->request(queryRequest({{"op", "slow"}, {"url", server.url("/")}}),
                     [&](HttpResponse r) { slow.set_value(std::move(r)); });
    // b is busy, so a's call waits in b's queue until a's timeout.
    CHECK(rooms.answer(rooms.shard("ping", "a"), {{"op", "call"}, {"to", "b"}, {"timeout_ms", "200"}}) ==
          "nil timeout");
    release = true;
    auto future = slow.get_future();
    REQUIRE(future.wait_for(5s) == std::future_status::ready);
    CHECK(future.get().body == "200 late nil");
}

TEST_CASE("room.parties mistakes raise errors naming the script's line") {
    Rooms rooms(Scripts{{"ping", kPing}});
    CHECK(
        rooms.answer(rooms.shard("ping", "a"), {{"op", "mistakes"}}) ==
        "ping.lua:30: room.parties: a room id is 1 to 256 bytes, got 0\n"
        "ping.lua:31: room.parties fetch: the path must be a string starting with / and without a query "
        "(give opts.query)\n"
        "ping.lua:32: room.parties fetch: the path must be a string starting with / and without a query "
        "(give opts.query)\n"
        "ping.lua:33: room.parties fetch: unknown option 'nope' (method, headers, query, body, timeout_ms)\n"
        "ping.lua:34: room.parties broadcast: data must be a string or a table, got number");
}
