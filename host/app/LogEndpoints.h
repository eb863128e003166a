// LogEndpoints: the control API under /v1/. Writes into a room's log from outside the room
// (POST /v1/parties/:party/:room/broadcast), reads it back (GET .../history) and reloads a party's
// script (POST /v1/parties/:party/reload).
//
// Every route the Router reads as the control API enters through handle(): the one place to
// decide whether a control request may go on. Must not: touch a shard or its Lua state: a
// broadcast reaches the rooms through the log as every write does, and a reload is the node's.
//
// Threads: CivetWeb workers; a broadcast's acknowledgements arrive on bus threads.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "app/BodyReader.h"
#include "app/ClientAddress.h"
#include "bus/Bus.h"
#include "config/Config.h"
#include "core/Histogram.h"
#include "core/Status.h"
#include "net/WriteRateLimit.h"
#include "rooms/Party.h"
#include "rooms/RoomRegistry.h"
#include "rooms/ShardRouter.h"

struct mg_connection;

namespace partyline {

struct Route;

struct LogEndpointsDeps {
    RoomRegistry& rooms;  // the subjects of the rooms' logs
    const Parties& parties;
    const ShardRouters& routers;
    Bus& bus;
    const Limits& limits;
    std::function<Status(const std::string& party)> reload;
    Histogram* publishSeconds = nullptr;  // a broadcast until the log acknowledged it
    BodyReader* bodies = nullptr;         // a broadcast's body within its deadline; none: no deadline
    // Bytes a client address may broadcast per second; past it 429 with Retry-After. Null: no limit.
    net::WriteRateLimit* writeRate = nullptr;
    // Whose X-Forwarded-For names the client whose write rate is charged; null: the peer itself.
    const TrustedProxies* proxies = nullptr;
};

class LogEndpoints {
   public:
    explicit LogEndpoints(LogEndpointsDeps deps) : deps_(std::move(deps)) {}

    // CivetWeb worker. Answers a Broadcast, History or Reload route and returns the status.
    int handle(mg_connection* conn, const Route& route);

   private:
    int handleBroadcast(mg_connection* conn, const Route& route);
    int handleHistory(mg_connection* conn, const Route& route);
    int chargeWrites(mg_connection* conn, const std::string& address, size_t rooms,
                     const std::vector<std::string>& writes);
    int handleReload(mg_connection* conn, const Route& route);

    LogEndpointsDeps deps_;
};

// The writes of a batch broadcast: each non-empty line of the body, without its line end.
std::vector<std::string> splitLines(std::string_view body);

}  // namespace partyline
