// RoomEvents: a room's life as webhook events — the shard starting and going idle on this node, a
// connection joining and leaving — handed to the node's WebhookSender.
//
// Builds the event only when the party's webhook asks for its kind, and never waits: the sender
// queues it. Must not: send, block, or run Lua.
#pragma once

#include <cstdint>
#include <string>

#include "net/WebhookEvent.h"
#include "rooms/Client.h"
#include "rooms/ShardContext.h"

namespace partyline {

// Any thread. room.started, room.idle.
void postRoomEvent(ShardContext& context, net::WebhookEventKind kind, const std::string& party,
                   const std::string& room);
// Any thread. connect (code 0), close (the close code and reason).
void postConnectionEvent(ShardContext& context, net::WebhookEventKind kind, const std::string& party,
                         const std::string& room, const Client& client, uint16_t code = 0,
                         std::string reason = {});

}  // namespace partyline
