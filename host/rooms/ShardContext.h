// ShardContext: what all shards of a node share — the bus, the executors, the
// timer, the limits and the node's counters. Outlives every shard.
//
// It holds references and counters only: no shard state, no Lua. Its metrics are declared in
// writeMetrics.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "bus/Bus.h"
#include "bus/KeyValue.h"
#include "config/Config.h"
#include "core/Executor.h"
#include "core/Histogram.h"
#include "core/Timer.h"
#include "net/WriteRateLimit.h"

namespace partyline {

class Metrics;
class RoomLinks;
namespace net {
class Fetcher;
class WebhookSender;
}  // namespace net

struct ShardContext {
    Bus& bus;
    Executor& executor;
    Timer& timer;
    const Limits& limits;
    std::string nodeId;
    std::string subjectPrefix;  // RoomRegistry builds each room's RoomSubjects under it
    int partitions = 1;         // nats.partitions: each room's log subject names its partition
    // Blocking NATS calls (room.storage, alarms, room:history) run on this executor, never on
    // a shard's strand, so a slow or absent NATS server holds back only the
    // handler that waits for it. Null: scripts get an error for storage and
    // alarms; room:history reads on `executor` instead.
    Executor* blocking = nullptr;
    KeyValue* storage = nullptr;  // room.storage of parties with storage: true; null when none has it
    KeyValue* alarms = nullptr;   // every room's pending alarm; null: room:setAlarm is an error
    // Bytes of writes a client address may make per second (limits.max_write_bytes_per_second_per_ip):
    // a WebSocket whose message makes a write past it is closed 1008. Null: no limit.
    net::WriteRateLimit* writeRate = nullptr;
    // The node's outgoing HTTP calls (fetch in Lua), answered on its own thread. Null: fetch is an error.
    net::Fetcher* fetcher = nullptr;
    // Room events for the parties' webhooks (room.started, room.idle, connect, close). Null: none.
    net::WebhookSender* webhooks = nullptr;
    // Calls and writes from one room to another of this node (room.parties). Null: none.
    RoomLinks* links = nullptr;

    std::atomic<uint64_t> luaErrors{0};
    std::atomic<uint64_t> deliveries{0};  // frames handed to connections
    std::atomic<uint64_t> writesIn{0};    // writes received from the log
    std::atomic<uint64_t> gapsFilled{0};  // writes read back from the log to close a gap
    std::atomic<uint64_t> publishes{0};
    std::atomic<uint64_t> publishErrors{0};
    std::atomic<uint64_t> luaBudgetStops{0};  // handler calls stopped by the budget, time limit or memory cap
    std::atomic<int64_t> waitingWrites{0};    // writes from the log not yet delivered: the node's log lag
    Histogram publishSeconds{};               // a script's publish until the log's acknowledgement
    Histogram deliverySeconds{};              // the log storing a write until its frames are queued here

    // Any thread: the counters above as metrics.
    void writeMetrics(Metrics& out) const;
};

}  // namespace partyline
