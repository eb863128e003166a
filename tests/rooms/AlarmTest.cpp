// Alarms over the in-memory bus and buckets: room:setAlarm/cancelAlarm/
// getAlarm, and AlarmScheduler running each due alarm once, on one of two
// nodes, after the room's shard closed, after a claiming node died, and again
// when onAlarm sets the next one. Timings are shortened so tests stay quick.
#include <doctest/doctest.h>

#include "rooms/AlarmScheduler.h"
#include "rooms/RoomsTestSupport.h"

using namespace partyline;
using namespace partyline::testing;
using namespace std::chrono_literals;

namespace {

// onAlarm writes "alarm <n> on <node>" to the log, counting in storage; the
// alarm sets itself again while ?repeat asks for more.
constexpr const char* kAlarmRoom = R"lua(
local Room = {}
local starts = 0
function Room.onStart(room) starts = starts + 1 end
function Room.onAlarm(room)
  local fired = (room.storage:get("fired") or 0) + 1
  room.storage:put("fired", fired)
  room:broadcast("alarm " .. fired .. " on " .. room.node .. " start " .. starts)
  local again = room.storage:get("repeat") or 0
  if fired < again then room:setAlarm(50) end
end
function Room.onRequest(room, req)
  local q = req.query
  if q.op == "set" then return tostring(room:setAlarm(tonumber(q.ms))) end
  if q.op == "cancel" then return tostring(room:cancelAlarm()) end
  if q.op == "get" then return tostring(room:getAlarm()) end
  if q.op == "repeat" then room.storage:put("repeat", tonumber(q.times)) return "ok" end
  if q.op == "bad" then return tostring(room:setAlarm(q.ms)) end
  return "no op"
end
return Room
)lua";

AlarmScheduler::Timing quick() {
    AlarmScheduler::Timing timing;
    timing.tick = 20ms;
    timing.grace = 300ms;
    timing.lease = 1500ms;
    timing.retryPause = 100ms;
    return timing;
}

// The room's log: what onAlarm wrote.
std::vector<std::string> alarmLog(Rooms& rooms, const std::string& room) {
    auto subjects = rooms.registry->subjects("alarm", room);
    REQUIRE(subjects.isOk());
    auto entries = rooms.bus.read(subjects.value().log, 0, 100);
    REQUIRE(entries.isOk());
    std::vector<std::string> out;
    for (const auto& e : entries.value()) out.push_back(e.data);
    return out;
}

std::shared_ptr<AlarmScheduler> schedulerOf(ShardContext& context, RoomRegistry& registry,
                                            AlarmScheduler::Timing timing = quick()) {
    auto started = AlarmScheduler::start(context, registry, timing);
    REQUIRE(started.isOk());
    return started.value();
}

// A Rooms with the alarm party and its scheduler, stopped before the rooms go.
struct AlarmRooms {
    explicit AlarmRooms(Limits limits = {}, AlarmScheduler::Timing timing = quick())
        : rooms(Scripts{{"alarm", kAlarmRoom}}, limits, SIZE_MAX, {"alarm"}),
          scheduler(schedulerOf(*rooms.context, *rooms.registry, timing)) {}
    ~AlarmRooms() { scheduler->stop(); }
    Rooms rooms;
    std::shared_ptr<AlarmScheduler> scheduler;
};

}  // namespace

TEST_CASE("setAlarm runs onAlarm once when due; getAlarm shows the due time until then") {
    AlarmRooms a;
    auto shard = a.rooms.shard("alarm", "r");
    const int64_t before = unixMillis();
    const int64_t due = std::stoll(a.rooms.answer(shard, {{"op", "set"}, {"ms", "200"}}));
    CHECK(due >= before + 200);
    CHECK(due <= unixMillis() + 200);
    CHECK(a.rooms.answer(shard, {{"op", "get"}}) == std::to_string(due));
    REQUIRE(eventually([&] { return alarmLog(a.rooms, "r").size() == 1; }, 3s));
    const int64_t ranAt = unixMillis();
    CHECK(ranAt >= due);
    CHECK(alarmLog(a.rooms, "r") == std::vector<std::string>{"alarm 1 on node-a start 1"});
    CHECK(eventually([&] { return a.rooms.answer(shard, {{"op", "get"}}) == "nil"; }));
    std::this_thread::sleep_for(500ms);  // past grace and retries: nothing runs it again
    CHECK(alarmLog(a.rooms, "r").size() == 1);
    CHECK(a.scheduler->fired() == 1);
}

TEST_CASE("cancelAlarm removes the alarm; setting one replaces the one before") {
    AlarmRooms a;
    auto shard = a.rooms.shard("alarm", "r");
    a.rooms.answer(shard, {{"op", "set"}, {"ms", "200"}});
    CHECK(a.rooms.answer(shard, {{"op", "cancel"}}) == "true");
    CHECK(a.rooms.answer(shard, {{"op", "get"}}) == "nil");
    std::this_thread::sleep_for(400ms);  // past the cancelled alarm's time
    CHECK(alarmLog(a.rooms, "r").empty());
    // A later alarm replaced by an earlier one: only the earlier runs.
    a.rooms.answer(shard, {{"op", "set"}, {"ms", "60000"}});
    const std::string due = a.rooms.answer(shard, {{"op", "set"}, {"ms", "300"}});
    CHECK(a.rooms.answer(shard, {{"op", "get"}}) == due);
    REQUIRE(eventually([&] { return alarmLog(a.rooms, "r").size() == 1; }, 3s));
    std::this_thread::sleep_for(600ms);
    CHECK(alarmLog(a.rooms, "r").size() == 1);
    CHECK(a.rooms.answer(shard, {{"op", "get"}}) == "nil");
}

TEST_CASE("onAlarm may set the next alarm; each runs once") {
    AlarmRooms a;
    auto shard = a.rooms.shard("alarm", "r");
    a.rooms.answer(shard, {{"op", "repeat"}, {"times", "3"}});
    a.rooms.answer(shard, {{"op", "set"}, {"ms", "0"}});
    REQUIRE(eventually([&] { return alarmLog(a.rooms, "r").size() == 3; }, 5s));
    std::this_thread::sleep_for(500ms);
    CHECK(alarmLog(a.rooms, "r") == std::vector<std::string>{"alarm 1 on node-a start 1",
                                                             "alarm 2 on node-a start 1",
                                                             "alarm 3 on node-a start 1"});
    CHECK(a.rooms.answer(shard, {{"op", "get"}}) == "nil");
}

TEST_CASE("an alarm outlives its shard: the room is woken when it is due") {
    Limits limits;
    limits.idle_room_seconds = std::chrono::seconds(1);
    AlarmRooms a(limits);
    {
        auto shard = a.rooms.shard("alarm", "idle");
        a.rooms.answer(shard, {{"op", "set"}, {"ms", "2500"}});
    }
    // The idle sweep closes the shard; no node has one when the alarm is due.
    REQUIRE(eventually([&] { return a.rooms.registry->find("alarm", "idle") == nullptr; }, 4s));
    REQUIRE(eventually([&] { return alarmLog(a.rooms, "idle").size() == 1; }, 5s));
    // A new shard ran onStart, then onAlarm.
    CHECK(alarmLog(a.rooms, "idle") == std::vector<std::string>{"alarm 1 on node-a start 1"});
    CHECK(a.rooms.registry->find("alarm", "idle") != nullptr);
}

TEST_CASE("with a shard of the room on two nodes, every alarm runs once, on one of them") {
    AlarmRooms a;
    OtherNode b(a.rooms, "node-b");
    auto onB = schedulerOf(*a.rooms.others.back(), *b.registry);
    constexpr int kRooms = 8;
    for (int i = 0; i < kRooms; ++i) {
        const std::string room = "pair-" + std::to_string(i);
        a.rooms.shard("alarm", room);
        auto shard = b.shard("alarm", room);
        a.rooms.answer(shard, {{"op", "set"}, {"ms", "100"}});
    }
    std::map<std::string, int> byNode;
    for (int i = 0; i < kRooms; ++i) {
        const std::string room = "pair-" + std::to_string(i);
        CAPTURE(room);
        REQUIRE(eventually([&] { return !alarmLog(a.rooms, room).empty(); }, 3s));
    }
    std::this_thread::sleep_for(600ms);  // past the grace period: a second run would show
    for (int i = 0; i < kRooms; ++i) {
        auto log = alarmLog(a.rooms, "pair-" + std::to_string(i));
        REQUIRE(log.size() == 1);
        byNode[log.front().find("node-a") != std::string::npos ? "node-a" : "node-b"]++;
    }
    CHECK(a.scheduler->fired() + onB->fired() == kRooms);
    MESSAGE("alarms run on node-a: " << byNode["node-a"] << ", on node-b: " << byNode["node-b"]);
    onB->stop();
}

TEST_CASE("the node with a live shard of the room runs its alarm; a node without one waits") {
    AlarmScheduler::Timing patient = quick();
    patient.grace = 2000ms;  // long, so the test does not depend on the machine's speed
    AlarmRooms a({}, patient);
    OtherNode b(a.rooms, "node-b");
    auto onB = schedulerOf(*a.rooms.others.back(), *b.registry, patient);
    for (const char* room : {"live-1", "live-2", "live-3"})
        a.rooms.answer(a.rooms.shard("alarm", room), {{"op", "set"}, {"ms", "100"}});
    for (const char* room : {"live-1", "live-2", "live-3"}) {
        REQUIRE(eventually([&] { return alarmLog(a.rooms, room).size() == 1; }, 3s));
        CHECK(alarmLog(a.rooms, room).front() == "alarm 1 on node-a start 1");
    }
    CHECK(onB->fired() == 0);
    CHECK(b.registry->size() == 0);
    onB->stop();
}

TEST_CASE("an alarm claimed by a node that died is run by another when the claim ends") {
    AlarmRooms a;
    auto shard = a.rooms.shard("alarm", "orphan");
    // A claim as a dead node left it: due long ago, the claim ends in 400 ms.
    AlarmRecord claimed{unixMillis() - 5000, unixMillis() + 400, "dead-node"};
    REQUIRE(a.rooms.alarms->put("alarm.orphan", claimed.text(), std::nullopt, KeyValue::Clock::now() + 1s)
                .isOk());
    std::this_thread::sleep_for(200ms);
    CHECK(alarmLog(a.rooms, "orphan").empty());  // the claim still holds
    REQUIRE(eventually([&] { return alarmLog(a.rooms, "orphan").size() == 1; }, 3s));
    CHECK(eventually([&] { return a.rooms.answer(shard, {{"op", "get"}}) == "nil"; }));
}

TEST_CASE("bad alarm calls raise errors; a stopped shard refuses an alarm") {
    AlarmRooms a;
    auto shard = a.rooms.shard("alarm", "bad");
    auto failure = [&](std::map<std::string, std::string> query) {
        HttpResponse response = a.rooms.request(shard, queryRequest(std::move(query)));
        CHECK(response.status == 500);
        return response.body;
    };
    CHECK(failure({{"op", "bad"}, {"ms", "soon"}})
              .find("alarm.lua:18: room:setAlarm: the delay must be a number of milliseconds, got string") !=
          std::string::npos);
    CHECK(failure({{"op", "set"}, {"ms", "-1"}})
              .find("room:setAlarm: the delay must be 0 to 31622400000 milliseconds "
                    "(a year), got -1") != std::string::npos);
    CHECK(failure({{"op", "set"}, {"ms", "1e20"}})
              .find("room:setAlarm: the delay must be 0 to 31622400000 "
                    "milliseconds (a year), got 1e+20") != std::string::npos);
    auto& bucket = static_cast<MemoryKeyValue&>(*a.rooms.alarms);
    bucket.setAvailable(false);
    CHECK(failure({{"op", "set"}, {"ms", "10"}}).find("room:setAlarm: unavailable: ") != std::string::npos);
    bucket.setAvailable(true);

    // A shard that stopped does not take an alarm: the scheduler offers it again.
    std::promise<bool> taken;
    shard->stop();
    shard->runAlarm([&](bool t) { taken.set_value(t); });
    auto future = taken.get_future();
    REQUIRE(future.wait_for(3s) == std::future_status::ready);
    CHECK_FALSE(future.get());
}

TEST_CASE("without onAlarm the alarm is consumed; without an alarm bucket the calls say so") {
    Rooms rooms(Scripts{{"quiet", R"lua(
local Room = {}
function Room.onRequest(room, req)
  if req.query.op == "get" then return tostring(room:getAlarm()) end
  return tostring(room:setAlarm(0))
end
return Room)lua"}});
    auto scheduler = schedulerOf(*rooms.context, *rooms.registry);
    auto shard = rooms.shard("quiet", "q");
    HttpResponse set = rooms.request(shard, queryRequest({}));
    CHECK(set.status == 200);
    CHECK(eventually([&] { return scheduler->fired() == 1; }));
    CHECK(eventually([&] { return rooms.request(shard, queryRequest({{"op", "get"}})).body == "nil"; }));
    scheduler->stop();

    OtherNode without(rooms, "no-alarms");
    rooms.others.back()->alarms = nullptr;
    HttpResponse refused = rooms.request(without.shard("quiet", "q"), queryRequest({}));
    CHECK(refused.status == 500);
    CHECK(refused.body.find("room:setAlarm: alarms are not available on this node") != std::string::npos);
}
