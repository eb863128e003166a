// WebSocketUpgrade: the seam between the network and the rooms. Turns an upgrade request into a
// room connection: checks the handshake, opens the room (RoomRegistry::open: 503 or 429 past the
// limits on new rooms), claims the connection's id (ConnectionIds: 409 for an id another identity
// holds), asks the room (onBeforeConnect), takes the socket away from CivetWeb, answers 101 (and a
// partyline.v1 client's welcome frame) through the connection's outbox, joins the shard and hands
// the socket to the Reactor, whose frames then go to the shard. A multiplexed socket
// (GET /v1/connect, partyline.mux.v1) is taken over the same way, with no room yet: its frames
// go to its MuxSession, which joins rooms.
//
// Must not: read or write WebSocket frames (the Reactor and the Sender do), or run Lua: the room
// decides on its shard's strand while the worker waits.
//
// Threads: handle() runs on a CivetWeb worker; the sessions it makes run on the Reactor thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "app/ClientAddress.h"
#include "app/ConnectionAuth.h"
#include "app/ServerCounters.h"
#include "app/UpgradeRequest.h"
#include "config/Config.h"
#include "core/Executor.h"
#include "core/Timer.h"
#include "net/Reactor.h"
#include "net/Sender.h"
#include "rooms/Party.h"
#include "rooms/RoomRegistry.h"
#include "rooms/ShardRouter.h"

struct mg_connection;

namespace partyline {

struct Route;

struct WebSocketUpgradeDeps {
    RoomRegistry& rooms;
    const Parties& parties;
    const ShardRouters& routers;
    net::Sender& sender;    // writes the upgraded connections
    net::Reactor& reactor;  // reads them
    const Limits& limits;
    ServerCounters& counters;                 // an upgrade moves its connection from `http` to `webSockets`
    const PartyAuths& auths;                  // checked before the room is created or runs anything
    const TrustedProxies* proxies = nullptr;  // whose X-Forwarded-For gives req.remoteAddr
    Executor* joins = nullptr;                // where a multiplexed socket's joins wait; null: none
    Timer* timer = nullptr;                   // ends a multiplexed socket's room at its token's expiry
};

class WebSocketUpgrade {
   public:
    explicit WebSocketUpgrade(WebSocketUpgradeDeps deps) : deps_(deps) {}

    // CivetWeb worker. Answers the upgrade request of `route` (a Room route): 101 and the socket
    // is the Reactor's, or the refusal, written to the connection. Returns the status.
    int handle(mg_connection* conn, const Route& route);
    // CivetWeb worker. Answers GET /v1/connect: 101 with partyline.mux.v1 and the socket is the
    // Reactor's, its rooms joined by its frames (MuxSession); or the refusal. Returns the status.
    int handleMux(mg_connection* conn);

   private:
    // Takes a slot of limits.max_connections (the caller gives it back, or the session does), or
    // answers 503 with Retry-After and returns the status when none is left.
    std::optional<int> refuseAtConnectionLimit(mg_connection* conn);
    // After the room accepted: takes the socket from CivetWeb, joins the shard, hands the socket
    // to the Reactor and lets the 101 out. 101, or the 500 written when the socket cannot be taken.
    // `expiresAt`: when its token expires, the Reactor closes it 4001. A router's `choice` is let
    // go as the shard takes the connection (ShardChoice::connect).
    int takeOver(mg_connection* conn, const std::shared_ptr<Shard>& shard, HttpRequest request,
                 const UpgradeRequest& upgrade, const ConnectionIds::Claim& claim,
                 std::optional<std::chrono::system_clock::time_point> expiresAt,
                 std::optional<ShardChoice>& choice);

    // The socket of an accepted upgrade, taken from CivetWeb; -1 once `status` was answered.
    int adoptSocket(mg_connection* conn, int& status);

    WebSocketUpgradeDeps deps_;
};

}  // namespace partyline
