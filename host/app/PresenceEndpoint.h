// PresenceEndpoint: GET /v1/parties/:party/:room/presence, the control API's view of who is in a
// room: {"room":"party/room","connections":[{"id":...,"node":...,"info":...}]}, every connection
// on every node as this node last heard it (what room:presence() gives the room's script). A
// party with presence: count has no lists: the answer is the count of each node and their sum.
//
// Who may call it: the control surface's clients (HttpServer checks the API key before any
// /v1/ route reaches it). It opens the room's shard on this node when there is none, as a room
// request does (its Presence asks every node for its list and answers after a short gathering
// window); it must not run Lua or reach connections.
//
// Threads: CivetWeb workers; the list is read on the shard's strand and handed back.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "rooms/Party.h"
#include "rooms/PresenceRoster.h"
#include "rooms/RoomRegistry.h"

struct mg_connection;

namespace partyline {

struct Route;

class PresenceEndpoint {
   public:
    PresenceEndpoint(RoomRegistry& rooms, const Parties& parties) : rooms_(rooms), parties_(parties) {}

    // CivetWeb worker: answers a Presence route and returns the status.
    int handle(mg_connection* conn, const Route& route, const std::string& clientAddress);

   private:
    RoomRegistry& rooms_;
    const Parties& parties_;
};

// The answer's JSON for room "party/room".
std::string presenceJson(const std::string& room, const std::vector<PresenceEntry>& entries);
// A party with presence: count: {"room":..., "count": total, "nodes":[{"node":..., "count":...}]}.
std::string presenceCountsJson(const std::string& room, const std::map<std::string, size_t>& counts);

}  // namespace partyline
