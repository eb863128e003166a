// Node: the composition root. Builds every part of one partyline process from
// its configuration, in dependency order, and tears them down in reverse.
//
// Member order is the contract: the HTTP server stops first (no new events),
// then the alarm scheduler, the rooms, the webhook sender (its retries wait on
// the timer, its calls on the fetcher), the timer, the executor (no task left
// to touch the bus), the blocking executor (after the shards it answers), the
// fetcher (no handler left to call it; its last answers are dropped), the
// sender, the key-value buckets, the bus, and last the embedded nats-server.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "app/HttpServer.h"
#include "app/StaticFiles.h"
#include "bus/EmbeddedNats.h"
#include "bus/NatsBus.h"
#include "config/Config.h"
#include "core/Executor.h"
#include "core/Timer.h"
#include "net/Fetcher.h"
#include "net/Sender.h"
#include "net/WebhookSender.h"
#include "rooms/AlarmScheduler.h"
#include "rooms/Party.h"
#include "rooms/RoomLinks.h"
#include "rooms/RoomRegistry.h"

namespace partyline {

struct NodeOptions {
    Config config;
    StaticFiles staticFiles;  // the pages served beside the rooms; empty: none
};

class Node {
   public:
    static Result<std::unique_ptr<Node>> start(NodeOptions options);
    ~Node();

    uint16_t port() const { return http_->port(); }
    const std::string& nodeId() const { return nodeId_; }
    // Graceful stop (SIGTERM): stop accepting connections, close clients with 1001 so they
    // reconnect elsewhere, let requests in progress and pending publishes finish, for at most
    // limits.drain_seconds. True when everything finished in time.
    bool drain();
    // Loads the scripts of every party again (SIGHUP); `force` even unchanged ones.
    void reloadScripts(bool force);
    // Loads one party's script again; the error when it does not load.
    Status reloadParty(const std::string& name);

   private:
    explicit Node(NodeOptions options) : options_(std::move(options)) {}
    Status openBuckets();
    // The bucket `name`, or with several partitions its buckets <name>-0 .. <name>-<N-1> as one.
    Result<std::shared_ptr<KeyValue>> openPartitionedBucket(const std::string& name);
    // Logs the version of the nats-server the bus reached (read from its INFO). The node uses
    // no feature newer than 2.9 yet; one that needs a newer server checks this version first.
    void logServerVersion();
    // Any thread: the node's metrics, the HTTP server's aside (it writes its own).
    void writeMetrics(Metrics& out) const;
    void watchScripts();

    NodeOptions options_;
    std::string nodeId_;
    std::unique_ptr<EmbeddedNats> embedded_;
    std::unique_ptr<NatsBus> bus_;
    std::shared_ptr<KeyValue> storage_;  // null when no party has storage: true
    std::shared_ptr<KeyValue> alarmStore_;
    std::unique_ptr<net::Sender> sender_;
    std::unique_ptr<net::Fetcher> fetcher_;
    std::unique_ptr<Executor> blocking_;
    std::unique_ptr<Executor> executor_;
    std::unique_ptr<Timer> timer_;
    std::unique_ptr<net::WebhookSender> webhooks_;  // null when no party has a webhook
    // limits.max_write_bytes_per_second_per_ip, shared by the shards and the control API.
    std::unique_ptr<net::WriteRateLimit> writeRate_;
    std::unique_ptr<ShardContext> context_;
    std::unique_ptr<Parties> parties_;
    std::unique_ptr<RoomRegistry> rooms_;
    std::unique_ptr<RoomLinks> links_;  // closed before rooms_ goes, destroyed after the executors
    std::shared_ptr<AlarmScheduler> alarms_;
    std::unique_ptr<HttpServer> http_;
    uint64_t watchTimer_ = 0;
    std::mutex watchMutex_;
    bool stopping_ = false;
};

std::string defaultNodeId();

}  // namespace partyline
