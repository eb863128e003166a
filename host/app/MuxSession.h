// MuxSession: one `partyline.mux.v1` WebSocket, many rooms over it. Each join is a connection of
// its room in every sense (the party's auth, onBeforeConnect, onConnect, conn:send, onClose,
// counts, replay, the write limits); the socket's own limits (send buffer, slow-consumer close,
// message rate) are the Reactor's and the Sender's for the socket as a whole.
//
// What a client sends is read by MuxProtocol and acted on here: a join is checked on the Reactor
// thread (a room joined twice, one past limits.max_rooms_per_connection) and then made on the
// join executor, which may wait (room open, the log's position, onBeforeConnect); `joined` goes
// out from the shard's strand once the shard has the connection, so every write after it
// reaches it, in log order.
// Leave, send and refresh are answered on the Reactor thread.
//
// Must not: block the Reactor thread, write to the socket other than through its outbox, run
// Lua, or log a token.
//
// Threads: the SessionHandler calls come on the Reactor thread; joins run on the join executor;
// the rooms' clients are called on their shards' strands; token expiries fire on the timer
// thread. MuxSocket's mutex guards what they share.
#pragma once

#include <memory>
#include <string>

#include "app/ConnectionAuth.h"
#include "app/ServerCounters.h"
#include "config/Config.h"
#include "core/Executor.h"
#include "core/Timer.h"
#include "net/Sender.h"
#include "net/SessionHandler.h"
#include "rooms/Http.h"
#include "rooms/Party.h"
#include "rooms/RoomRegistry.h"
#include "rooms/ShardRouter.h"

namespace partyline {

struct MuxDeps {
    RoomRegistry& rooms;
    const Parties& parties;
    const ShardRouters& routers;
    const Limits& limits;
    ServerCounters& counters;  // messagesIn; the socket's own slot and peer (given back at the close)
    const PartyAuths& auths;   // each join's token, checked as on the room's own URL
    Executor& joins;           // where a join waits for its room
    Timer& timer;              // closes a room of the socket when its token expires
};

class MuxSocket;

// The Reactor's view of the socket. `upgrade`: the upgrade request (its headers and client
// address go with every join); `peer`: the address counted against limits.max_connections_per_ip
// until the close, empty when not counted.
std::unique_ptr<net::SessionHandler> makeMuxSession(const MuxDeps& deps, std::shared_ptr<net::Outbox> outbox,
                                                    HttpRequest upgrade, std::string peer);

}  // namespace partyline
