// ShardView: the part of a shard that the room's Lua bindings (RoomApi,
// StorageApi, AlarmApi, FetchApi, PartiesApi) may use, and nothing more.
//
// A binding gets who the room is, its limits and buckets, one connection by
// id, and the two ways a handler reaches the log (publish, readHistory); the
// running handler itself is reached through handlers(). A binding must not
// keep a view past the handler call it was given to, nor hand it to another
// thread.
//
// Threads: strand only (the shard's), every method, inside a handler call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bus/Bus.h"
#include "bus/KeyValue.h"
#include "config/Config.h"
#include "rooms/Client.h"
#include "rooms/PresenceRoster.h"

namespace partyline {

class HandlerQueue;
class RoomLinks;
namespace net {
class Fetcher;
class FetchPolicy;
}  // namespace net

class ShardView {
   public:
    virtual const std::string& roomId() const = 0;
    virtual const std::string& partyName() const = 0;
    virtual const std::string& nodeId() const = 0;
    // "<party token>.<room token>": the room's keys in storage and alarms.
    virtual const std::string& keyPrefix() const = 0;
    virtual const Limits& limits() const = 0;
    // room.env: the party's environment values.
    virtual const std::map<std::string, std::string>& env() const = 0;
    // room.storage's bucket; null when the party has no storage: true.
    virtual KeyValue* storage() const = 0;
    // The alarm bucket; null when this node has none.
    virtual KeyValue* alarms() const = 0;
    // The node's Fetcher; null when this node makes no outgoing calls.
    virtual net::Fetcher* fetcher() const = 0;
    // The party's parties.X.fetch.allow, which each call must pass too; null when it has none.
    virtual const std::shared_ptr<const net::FetchPolicy>& fetchAllow() const = 0;
    // Other rooms of this node, for room.parties; null when this node has none to give.
    virtual RoomLinks* links() const = 0;
    // Connections of this room on every node, as last announced.
    virtual size_t totalCount() const = 0;
    // Every connection of the room on every node, as last announced (Presence::entries).
    virtual std::vector<PresenceEntry> presence() const = 0;
    // The party announces presence counts only (presence: count): presence() holds nothing.
    virtual bool presenceCountsOnly() const = 0;
    // The running handler changed connection `id`'s conn.presence to `info` (JSON; empty: nil).
    virtual void setPresence(const std::string& id, std::string info) = 0;
    // This shard's connection `id`, or null when there is none (it closed).
    virtual Client* client(const std::string& id) const = 0;
    // Publishes `data` to the room's log; the running handler, which yields,
    // is resumed with the sequence, or nil and why (HandlerQueue::resumeAfterPublish).
    virtual void publish(std::string data, PublishOptions options) = 0;
    // Reads up to `limit` writes after `since` off the strand; the running
    // handler, which yields, is resumed with the page (HandlerQueue::resumeAfterRead).
    virtual void readHistory(uint64_t since, size_t limit) = 0;
    // The room's script: the running handler, its connection tables, its blocking calls.
    virtual HandlerQueue& handlers() = 0;

   protected:
    ~ShardView() = default;
};

}  // namespace partyline
