// room.storage over the in-memory bus and bucket: values and revisions,
// compare-and-set across two nodes, rehydration in onStart, one test per kind
// of bad input, and a handler waiting for the bucket without blocking others.
#include <doctest/doctest.h>

#include "rooms/RoomsTestSupport.h"

using namespace partyline;
using namespace partyline::testing;
using namespace std::chrono_literals;

namespace {

// onRequest runs one storage operation named by the query and answers with what it returned.
constexpr const char* kStore = R"lua(
local Room = {}
local function show(v)
  if type(v) == "table" then return json.encode(v) end
  return tostring(v)
end
local function options(q)
  if q.expect then return {expect = math.tointeger(tonumber(q.expect))} end
end
function Room.onRequest(room, req)
  local q, s = req.query, room.storage
  if q.op == "get" then
    local value, rev = s:get(q.key)
    local kind = math.type(value) or type(value)
    return kind .. " " .. show(value) .. " " .. show(rev)
  elseif q.op == "put" then
    local value = q.value
    if q.json then value = json.decode(q.value) end
    local rev, err = s:put(q.key, value, options(q))
    return show(rev) .. " " .. show(err)
  elseif q.op == "delete" then
    local ok, err = s:delete(q.key, options(q))
    return show(ok) .. " " .. show(err)
  elseif q.op == "list" then
    local t, keys, out = s:list(q.prefix), {}, {}
    for k in pairs(t) do keys[#keys + 1] = k end
    table.sort(keys)
    for _, k in ipairs(keys) do out[#out + 1] = k .. "=" .. show(t[k]) end
    return table.concat(out, ",")
  elseif q.op == "pcall" then
    local ok, err = pcall(s.get, s, "k")
    return tostring(ok) .. " " .. tostring(err)
  end
  return "no op"
end
return Room
)lua";

// The handler's error, from a 500 answer.
std::string failure(Rooms& rooms, const std::shared_ptr<Shard>& shard,
                    std::map<std::string, std::string> query) {
    HttpResponse response = rooms.request(shard, queryRequest(std::move(query)));
    CHECK(response.status == 500);
    return response.body;
}

}  // namespace

TEST_CASE("room.storage keeps strings and JSON values with a revision each") {
    Rooms rooms(Scripts{{"store", kStore}}, {}, SIZE_MAX, {"store"});
    auto shard = rooms.shard("store", "r");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "missing"}}) == "nil nil nil");
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "name"}, {"value", "Ada"}}) == "1 nil");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "name"}}) == "string Ada 1");
    // Tables, numbers and booleans come back as what they were.
    CHECK(rooms.answer(shard,
                       {{"op", "put"}, {"key", "doc"}, {"json", "1"}, {"value", R"({"b":[1,2],"a":"x"})"}}) ==
          "2 nil");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "doc"}}) == R"(table {"a":"x","b":[1,2]} 2)");
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "n"}, {"json", "1"}, {"value", "42"}}) == "3 nil");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "n"}}) == "integer 42 3");
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "flag"}, {"json", "1"}, {"value", "true"}}) == "4 nil");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "flag"}}) == "boolean true 4");
    // A string that looks like JSON stays a string.
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "s"}, {"value", "{\"a\":1}"}}) == "5 nil");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "s"}}) == "string {\"a\":1} 5");
    // Stored bytes: a tag, then the string or the JSON.
    CHECK(rooms.storage->get("store.r.s", {}).value().value == "s{\"a\":1}");
    CHECK(rooms.storage->get("store.r.n", {}).value().value == "j42");

    CHECK(rooms.answer(shard, {{"op", "delete"}, {"key", "name"}}) == "true nil");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "name"}}) == "nil nil nil");
    CHECK(rooms.answer(shard, {{"op", "delete"}, {"key", "never-set"}}) == "true nil");
}

TEST_CASE("keys may hold any bytes; list returns every key, or those with a prefix") {
    Rooms rooms(Scripts{{"store", kStore}}, {}, SIZE_MAX, {"store"});
    auto shard = rooms.shard("store", "r");
    for (const char* key : {"user/1", "user/2", "user.3", "u s", "zé", "other"})
        REQUIRE(rooms.answer(shard, {{"op", "put"}, {"key", key}, {"value", std::string("v-") + key}})
                    .find("nil") != std::string::npos);
    CHECK(rooms.answer(shard, {{"op", "list"}}) ==
          "other=v-other,u s=v-u s,user.3=v-user.3,user/1=v-user/1,user/2=v-user/2,zé=v-zé");
    CHECK(rooms.answer(shard, {{"op", "list"}, {"prefix", "user/"}}) == "user/1=v-user/1,user/2=v-user/2");
    CHECK(rooms.answer(shard, {{"op", "list"}, {"prefix", "user"}}) ==
          "user.3=v-user.3,user/1=v-user/1,user/2=v-user/2");
    CHECK(rooms.answer(shard, {{"op", "list"}, {"prefix", "nothing"}}).empty());
    // Each room has its own keys; the party and room are encoded in the bucket's key.
    CHECK(rooms.answer(rooms.shard("store", "r.2"), {{"op", "list"}}).empty());
    CHECK(rooms.storage->get("store.r.user=2F1", {}).isOk());
}

TEST_CASE("put with expect is a compare-and-set; 0 means the key must not exist") {
    Rooms rooms(Scripts{{"store", kStore}}, {}, SIZE_MAX, {"store"});
    auto shard = rooms.shard("store", "r");
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "k"}, {"value", "a"}, {"expect", "0"}}) == "1 nil");
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "k"}, {"value", "b"}, {"expect", "0"}}) ==
          "nil conflict");
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "k"}, {"value", "b"}, {"expect", "7"}}) ==
          "nil conflict");
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "k"}, {"value", "b"}, {"expect", "1"}}) == "2 nil");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"key", "k"}}) == "string b 2");
    CHECK(rooms.answer(shard, {{"op", "delete"}, {"key", "k"}, {"expect", "1"}}) == "nil conflict");
    CHECK(rooms.answer(shard, {{"op", "delete"}, {"key", "k"}, {"expect", "2"}}) == "true nil");
    // Deleted, it may be created again.
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "k"}, {"value", "c"}, {"expect", "0"}}) == "4 nil");
}

TEST_CASE("two nodes' shards of a room share its storage; of two racing writers one wins") {
    constexpr const char* kRace = R"lua(
local Room = {}
local seen
function Room.onRequest(room, req)
  if req.query.op == "read" then
    local v, rev = room.storage:get("turn")
    seen = rev or 0
    return tostring(v)
  end
  local rev, err = room.storage:put("turn", room.node, {expect = seen})
  return tostring(rev) .. " " .. tostring(err)
end
return Room
)lua";
    Rooms rooms(Scripts{{"race", kRace}}, {}, SIZE_MAX, {"race"});
    OtherNode b(rooms, "node-b");
    auto onA = rooms.shard("race", "r");
    auto onB = b.shard("race", "r");
    for (int round = 0; round < 5; ++round) {
        CAPTURE(round);
        // Both read the same revision, then both write expecting it.
        std::string first = rooms.answer(onA, {{"op", "read"}});
        CHECK(rooms.answer(onB, {{"op", "read"}}) == first);
        auto& winner = round % 2 ? onB : onA;
        auto& loser = round % 2 ? onA : onB;
        CHECK(rooms.answer(winner, {{"op", "write"}}).find(" nil") != std::string::npos);
        CHECK(rooms.answer(loser, {{"op", "write"}}) == "nil conflict");
        CHECK(rooms.answer(loser, {{"op", "read"}}) == (round % 2 ? "node-b" : "node-a"));
    }
}

TEST_CASE("a shard that starts later rehydrates from storage in onStart") {
    constexpr const char* kCounter = R"lua(
local Room = {}
local count = 0
function Room.onStart(room) count = room.storage:get("count") or 0 end
function Room.onRequest(room, req)
  if req.query.op == "inc" then
    count = count + 1
    room.storage:put("count", count)
  end
  return tostring(count)
end
return Room
)lua";
    Rooms rooms(Scripts{{"counter", kCounter}}, {}, SIZE_MAX, {"counter"});
    {
        OtherNode before(rooms, "node-before");
        auto shard = before.shard("counter", "c");
        for (int i = 1; i <= 3; ++i) CHECK(rooms.answer(shard, {{"op", "inc"}}) == std::to_string(i));
    }
    // Another node (or this one after a restart) starts the room afresh.
    auto shard = rooms.shard("counter", "c");
    CHECK(rooms.answer(shard, {{"op", "show"}}) == "3");
    CHECK(rooms.answer(shard, {{"op", "inc"}}) == "4");
}

TEST_CASE("bad storage calls raise errors that say what is wrong, with the script line") {
    constexpr const char* kBad = R"lua(
local Room = {}
local cases = {
  numberKey = function(s) return s:get(5) end,
  nilKey = function(s) return s:put(nil, "v") end,
  tableKey = function(s) return s:delete({}) end,
  emptyKey = function(s) return s:get("") end,
  longKey = function(s) return s:get(string.rep("k", 257)) end,
  bigValue = function(s) return s:put("k", string.rep("x", 100)) end,
  bigTable = function(s) return s:put("k", {string.rep("x", 100)}) end,
  functionValue = function(s) return s:put("k", print) end,
  nilValue = function(s) return s:put("k", nil) end,
  cycle = function(s) local t = {} t.self = t return s:put("k", t) end,
  badExpect = function(s) return s:put("k", "v", {expect = -1}) end,
  floatExpect = function(s) return s:put("k", "v", {expect = 1.5}) end,
  zeroDelete = function(s) return s:delete("k", {expect = 0}) end,
  badOptions = function(s) return s:put("k", "v", 3) end,
  badPrefix = function(s) return s:list(7) end,
  noColon = function(s) return s.get("k") end,
  inCoroutine = function(s) return coroutine.wrap(function() return s:get("k") end)() end,
}
function Room.onRequest(room, req)
  return tostring(cases[req.query.case](room.storage))
end
return Room
)lua";
    Limits limits;
    limits.storage_value_bytes = 64;
    Rooms rooms(Scripts{{"bad", kBad}, {"plain", kStore}}, limits, SIZE_MAX, {"bad"});
    auto shard = rooms.shard("bad", "r");
    auto error = [&](const char* name) { return failure(rooms, shard, {{"case", name}}); };
    const std::string at = "room handler failed: " + (rooms.dir / "bad.lua").string() + ":";
    CHECK(error("numberKey") == at + "4: room.storage:get: the key must be a string, got number\n");
    CHECK(error("nilKey") == at + "5: room.storage:put: the key must be a string, got nil\n");
    CHECK(error("tableKey") == at + "6: room.storage:delete: the key must be a string, got table\n");
    CHECK(error("emptyKey") == at + "7: room.storage:get: the key must be 1 to 256 bytes, got 0\n");
    CHECK(error("longKey") == at + "8: room.storage:get: the key must be 1 to 256 bytes, got 257\n");
    CHECK(error("bigValue") ==
          at + "9: room.storage:put: the value is 101 bytes stored, over limits.storage_value_bytes (64)\n");
    CHECK(error("bigTable") ==
          at + "10: room.storage:put: the value is 105 bytes stored, over limits.storage_value_bytes (64)\n");
    CHECK(error("functionValue") ==
          at + "11: room.storage:put: the value must be a string, number, boolean or "
               "table, got function (room.storage:delete removes a key)\n");
    CHECK(error("nilValue")
              .find("12: room.storage:put: the value must be a string, number, boolean or table, got "
                    "nil") != std::string::npos);
    CHECK(error("cycle").find("13: room.storage:put: the value cannot be stored: ") != std::string::npos);
    CHECK(error("badExpect") ==
          at + "14: room.storage:put: expect must be a revision, an integer of at least 0\n");
    CHECK(error("floatExpect") ==
          at + "15: room.storage:put: expect must be a revision, an integer of at least 0\n");
    CHECK(error("zeroDelete") ==
          at + "16: room.storage:delete: expect must be the revision of the value to delete, at least 1\n");
    CHECK(error("badOptions") ==
          at + "17: room.storage:put: options must be a table such as {expect = 3}, got number\n");
    CHECK(error("badPrefix") == at + "18: room.storage:list: the prefix must be a string, got number\n");
    CHECK(error("noColon") == at + "19: call room.storage:get(...) with a colon\n");
    CHECK(
        error("inCoroutine").find("room.storage:get must be called from a handler, not inside a coroutine") !=
        std::string::npos);
    // Nothing reached the bucket, and the shard keeps serving.
    CHECK(static_cast<MemoryKeyValue&>(*rooms.storage).calls() == 0);

    // A party without storage: true.
    auto plain = rooms.shard("plain", "r");
    CHECK(failure(rooms, plain, {{"op", "get"}, {"key", "k"}})
              .find("room.storage is not enabled for party 'plain': set storage: true for it in the "
                    "configuration") != std::string::npos);
}

TEST_CASE("an unavailable bucket is a Lua error the script can catch") {
    Rooms rooms(Scripts{{"store", kStore}}, {}, SIZE_MAX, {"store"});
    auto shard = rooms.shard("store", "r");
    auto& bucket = static_cast<MemoryKeyValue&>(*rooms.storage);
    bucket.setAvailable(false);
    CHECK(failure(rooms, shard, {{"op", "put"}, {"key", "k"}, {"value", "v"}})
              .find("store.lua:19: room.storage:put: unavailable: memory key-value bucket is unavailable") !=
          std::string::npos);
    CHECK(rooms.answer(shard, {{"op", "pcall"}})
              .find("false room.storage:get: unavailable: memory key-value bucket is unavailable") !=
          std::string::npos);
    bucket.setAvailable(true);
    CHECK(rooms.answer(shard, {{"op", "put"}, {"key", "k"}, {"value", "v"}}) == "1 nil");
}

TEST_CASE("a handler waiting for the bucket holds back neither other rooms nor its room's deliveries") {
    Rooms rooms(Scripts{{"store", kStore}}, {}, SIZE_MAX, {"store"});
    auto& bucket = static_cast<MemoryKeyValue&>(*rooms.storage);
    auto slow = rooms.shard("store", "slow");
    REQUIRE(slow->waitUntilReady(3s));
    auto client = std::make_shared<FakeClient>("c");
    slow->connect(client, {});

    bucket.hold(true);
    std::promise<HttpResponse> answered;
    slow->request(queryRequest({{"op", "get"}, {"key", "k"}}),
                  [&](HttpResponse r) { answered.set_value(std::move(r)); });
    REQUIRE(eventually([&] { return bucket.waiting() == 1; }));

    // Another room answers, and the waiting room still delivers its log.
    CHECK(rooms.answer(rooms.shard("store", "other"), {{"op", "none"}}) == "no op");
    rooms.bus.publish(slow->subjects().log, "while waiting", {}, [](Result<uint64_t>) {});
    CHECK(texts(client->waitFor(1)) == std::vector<std::string>{"while waiting"});
    auto future = answered.get_future();
    CHECK(future.wait_for(50ms) == std::future_status::timeout);

    bucket.hold(false);
    REQUIRE(future.wait_for(3s) == std::future_status::ready);
    CHECK(future.get().body == "nil nil nil");
}
