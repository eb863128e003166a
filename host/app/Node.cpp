#include "app/Node.h"

#include <unistd.h>

#include <filesystem>
#include <thread>

#include "bus/NatsServerVersion.h"
#include "bus/Partition.h"
#include "bus/PartitionedKeyValue.h"
#include "core/Log.h"

namespace partyline {
namespace {

// Threads for blocking NATS calls (room.storage, alarms, room:history). They wait on the
// network, not the CPU: enough that one room waiting for a slow answer does
// not queue another room's call behind it.
constexpr size_t kBlockingThreads = 8;

// The configuration's fetch section as the Fetcher's limits; a request body is a message.
net::FetchLimits fetchLimits(const Config& config) {
    net::FetchLimits limits;
    limits.allow = config.fetch.allow;
    limits.timeout_ms = config.fetch.timeout_ms;
    limits.max_response_bytes = config.fetch.max_response_bytes;
    limits.max_request_bytes = config.limits.max_message_bytes;
    limits.max_in_flight = config.fetch.max_in_flight;
    limits.max_redirects = config.fetch.max_redirects;
    limits.ca_file = config.fetch.ca_file;
    return limits;
}

// Each party's webhook as the sender's target: its URL is the operator's, so it is called with a
// policy of exactly its host and port rather than fetch.allow.
Result<std::map<std::string, net::WebhookTarget>> webhookTargets(const Config& config) {
    std::map<std::string, net::WebhookTarget> targets;
    for (const auto& [name, party] : config.parties) {
        if (!party.webhook) continue;
        auto policy = net::FetchPolicy::exactly(party.webhook->url);
        if (!policy)
            return Status(Code::InvalidArgument,
                          "parties." + name + ".webhook.url: " +
                              config.shown("parties." + name + ".webhook.url", party.webhook->url) + ": " +
                              policy.status().message());
        net::WebhookTarget target{party.webhook->url, {}, party.webhook->secret.reveal(), policy.value()};
        for (const auto& event : party.webhook->events)
            if (auto kind = net::parseWebhookEventName(event)) target.events.insert(*kind);
        targets.emplace(name, std::move(target));
    }
    return targets;
}

}  // namespace

std::string defaultNodeId() {
    char host[256] = "node";
    gethostname(host, sizeof host - 1);
    std::string id;
    for (char c : std::string(host))
        id += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '-';
    return id + "-" + std::to_string(getpid());
}

Result<std::unique_ptr<Node>> Node::start(NodeOptions options) {
    std::unique_ptr<Node> node(new Node(std::move(options)));
    const Config& config = node->options_.config;
    node->nodeId_ = config.node_id == "auto" ? defaultNodeId() : config.node_id;

    std::string url = config.nats.url;
    if (url == "embedded") {
        std::error_code ignored;
        std::filesystem::create_directories(config.data_dir, ignored);
        auto embedded = EmbeddedNats::start(config.data_dir);
        if (!embedded) return embedded.status().withContext("embedded nats-server");
        node->embedded_ = std::move(embedded.value());
        url = node->embedded_->url();
        log::info("node", "embedded nats-server at " + url + " data=" + config.data_dir);
    }
    auto bus = NatsBus::connect(config.nats, url, node->nodeId_);
    if (!bus) return bus.status().withContext("nats " + url);
    node->bus_ = std::move(bus.value());
    node->logServerVersion();
    if (Status s = node->openBuckets(); !s) return s;

    node->sender_ = std::make_unique<net::Sender>();
    node->fetcher_ = std::make_unique<net::Fetcher>(fetchLimits(config));
    log::info("node", config.fetch.allow.empty() ? "fetch: no host allowed (fetch.allow is empty)"
                                                 : "fetch: " + std::to_string(config.fetch.allow.size()) +
                                                       " entries in fetch.allow");
    node->blocking_ = std::make_unique<Executor>(kBlockingThreads, "pl-block");
    node->executor_ =
        std::make_unique<Executor>(std::max(2u, std::thread::hardware_concurrency()), "pl-shard");
    node->timer_ = std::make_unique<Timer>();
    auto targets = webhookTargets(config);
    if (!targets) return targets.status();
    if (!targets->empty()) {
        net::Fetcher* fetcher = node->fetcher_.get();
        node->webhooks_ = std::make_unique<net::WebhookSender>(
            std::move(targets.value()), node->nodeId_,
            [fetcher](net::FetchRequest request, net::Fetcher::Done done) {
                fetcher->fetch(std::move(request), std::move(done));
            },
            *node->timer_);
    }
    node->context_.reset(new ShardContext{*node->bus_, *node->executor_, *node->timer_, config.limits,
                                          node->nodeId_, config.nats.subject_prefix});
    node->context_->partitions = config.nats.partitions;
    node->context_->blocking = node->blocking_.get();
    node->context_->storage = node->storage_.get();
    node->context_->alarms = node->alarmStore_.get();
    node->writeRate_ = std::make_unique<net::WriteRateLimit>(config.limits.max_write_bytes_per_second_per_ip);
    node->context_->writeRate = node->writeRate_.get();
    node->context_->fetcher = node->fetcher_.get();
    node->context_->webhooks = node->webhooks_.get();

    node->parties_ = std::make_unique<Parties>(config);
    for (const auto& [name, party] : node->parties_->all()) {
        auto script = party->script();
        if (party->isRouter())
            log::info("node", "party " + name + " router target=" + party->router().target +
                                  " shards=" + std::to_string(party->router().shards));
        else if (script->error.isOk())
            log::info("node", "party " + name + " script=" + script->path);
        else
            log::error("node", "party " + name + " cannot run: " + script->error.message());
    }
    node->rooms_ = std::make_unique<RoomRegistry>(*node->context_, *node->parties_);
    node->links_ = std::make_unique<RoomLinks>(*node->rooms_, *node->parties_, *node->bus_, *node->timer_,
                                               node->nodeId_);
    node->context_->links = node->links_.get();
    auto alarms = AlarmScheduler::start(*node->context_, *node->rooms_);
    if (!alarms) return alarms.status();
    node->alarms_ = std::move(alarms.value());

    Node* self = node.get();
    HttpServerDeps deps{*node->rooms_,
                        *node->parties_,
                        *node->bus_,
                        *node->sender_,
                        config.limits,
                        node->nodeId_,
                        node->options_.staticFiles,
                        [self] { return self->bus_->ready(); },
                        [self](Metrics& out) { self->writeMetrics(out); },
                        [self](const std::string& party) { return self->reloadParty(party); }};
    deps.publishSeconds = &node->context_->publishSeconds;
    deps.writeRate = node->writeRate_.get();
    for (const auto& key : config.api.keys) deps.apiKeys.push_back(key.reveal());
    deps.apiInsecure = config.api.insecure;
    deps.origins = config.origins;
    deps.trustedProxies = config.trusted_proxies;
    deps.opsListen = config.ops_listen;
    deps.timer = node->timer_.get();
    auto auths = PartyAuths::make(config.parties);
    if (!auths) return auths.status();
    deps.auths = std::move(auths.value());
    if (config.api.insecure)
        log::warn(
            "node",
            "api.insecure: the control API (/v1/..., /metrics) answers everyone; never on a public address");
    auto http = HttpServer::start(config.listen, std::move(deps));
    if (!http) return http.status();
    node->http_ = std::move(http.value());
    node->watchScripts();
    log::info("node", "partyline node " + node->nodeId_ + " listening on " + config.listen + " (port " +
                          std::to_string(node->http_->port()) + ")");
    return node;
}

Node::~Node() {
    uint64_t watch;
    {
        std::lock_guard lock(watchMutex_);
        stopping_ = true;
        watch = watchTimer_;
    }
    if (timer_) timer_->cancel(watch);
    http_.reset();
    if (alarms_) alarms_->stop();
    alarms_.reset();
    if (links_) links_->close();  // handlers still running get "stopped" from room.parties
    rooms_.reset();
    webhooks_.reset();  // no shard left to post; its retries are on the timer, its calls on the fetcher
    timer_.reset();
    // Both stop before either is destroyed: the shards' tasks post blocking calls, and a
    // blocking call that finishes posts its answer back to the shard's strand.
    if (executor_) executor_->stop();
    if (blocking_) blocking_->stop();
    // No handler runs now to call the fetcher: its pending calls end "stopped", and the answers
    // it posts to stopped strands are dropped.
    fetcher_.reset();
    links_.reset();
    executor_.reset();
    blocking_.reset();
    sender_.reset();
    storage_.reset();
    alarmStore_.reset();
    bus_.reset();
    embedded_.reset();
}

// The alarm bucket always; the storage bucket when a party uses room.storage.
void Node::logServerVersion() {
    std::string url = bus_->connectedUrl();
    auto version = probeServerVersion(url);
    if (!version) {
        log::warn("node", "cannot read the nats-server's version: " + version.status().message(),
                  {{"url", url}});
        return;
    }
    log::info("node", "nats-server " + version->text, {{"url", url}});
}

// One bucket per partition (PartitionedKeyValue): a room's keys sit in its partition's bucket.
Result<std::shared_ptr<KeyValue>> Node::openPartitionedBucket(const std::string& name) {
    const NatsConfig& nats = options_.config.nats;
    if (nats.partitions == 1) return bus_->openKeyValue({name, nats.replicas, {}});
    std::vector<std::shared_ptr<KeyValue>> buckets;
    for (int i = 0; i < nats.partitions; ++i) {
        auto bucket = bus_->openKeyValue({partitionName(name, i, nats.partitions), nats.replicas, {}});
        if (!bucket) return bucket.status();
        buckets.push_back(std::move(bucket.value()));
    }
    return std::shared_ptr<KeyValue>(std::make_shared<PartitionedKeyValue>(std::move(buckets)));
}

Status Node::openBuckets() {
    const NatsConfig& nats = options_.config.nats;
    auto alarms = openPartitionedBucket(nats.alarm_bucket);
    if (!alarms) return alarms.status().withContext("alarm bucket");
    alarmStore_ = std::move(alarms.value());
    bool storage = false;
    for (const auto& [name, party] : options_.config.parties) storage |= party.storage;
    if (!storage) return Status::ok();
    auto bucket = openPartitionedBucket(nats.storage_bucket);
    if (!bucket) return bucket.status().withContext("storage bucket");
    storage_ = std::move(bucket.value());
    return Status::ok();
}

// Script files are looked at once a second: an edit takes effect without a
// restart and without dropping connections.
void Node::watchScripts() {
    std::lock_guard lock(watchMutex_);
    if (stopping_) return;
    watchTimer_ = timer_->after(std::chrono::seconds(1), [this] {
        reloadScripts(false);
        watchScripts();
    });
}

void Node::reloadScripts(bool force) {
    for (const auto& [name, party] : parties_->all()) {
        if (!party->reloadIfChanged(force)) continue;
        auto script = party->script();
        Status refused = party->loadError();
        if (!refused.isOk() || !script->error.isOk()) {
            log::error("node", "party " + name + ": the script does not load, the running version stays: " +
                                   (refused.isOk() ? script->error : refused).message());
            continue;
        }
        size_t shards = rooms_->reload(name, script);
        log::info("node", "party " + name + " reloading " + script->path + " in " + std::to_string(shards) +
                              " shards");
    }
}

Status Node::reloadParty(const std::string& name) {
    Party* party = parties_->find(name);
    if (!party || party->isRouter())
        return Status(Code::NotFound, "no party named '" + name + "' with a script");
    party->reloadIfChanged(true);
    if (Status refused = party->loadError(); !refused.isOk()) return refused;
    auto script = party->script();
    if (!script->error.isOk()) return script->error;
    rooms_->reload(name, script);
    return Status::ok();
}

bool Node::drain() {
    using Clock = std::chrono::steady_clock;
    auto start = Clock::now();
    auto deadline = start + options_.config.limits.drain_seconds;
    log::info("node", "draining: closing clients with 1001, finishing requests and publishes",
              {{"websockets", std::to_string(http_->connections())},
               {"http_connections", std::to_string(http_->httpConnections())},
               {"publishes_pending", std::to_string(bus_->pendingPublishes())},
               {"drain_seconds", std::to_string(options_.config.limits.drain_seconds.count())}});
    http_->drain();
    // Quiet for a few checks in a row: a handler that was already queued may still publish.
    int quiet = 0;
    while (Clock::now() < deadline) {
        quiet = http_->drained() && bus_->pendingPublishes() == 0 ? quiet + 1 : 0;
        if (quiet >= 3) {
            auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
            log::info("node", "drained", {{"ms", std::to_string(ms)}});
            return true;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    log::warn("node", "drain time is over; stopping with work left",
              {{"websockets", std::to_string(http_->connections())},
               {"http_stopped", http_->drained() ? "true" : "false"},
               {"publishes_pending", std::to_string(bus_->pendingPublishes())}});
    return false;
}

void Node::writeMetrics(Metrics& out) const {
    out.gauge("partyline_rooms", "Shards running on this node.", rooms_->size());
    out.counter("partyline_alarms_fired_total", "Room alarms this node ran (onAlarm).", alarms_->fired());
    out.counter("partyline_write_rate_refused_total",
                "Writes refused for limits.max_write_bytes_per_second_per_ip (broadcasts answered 429, "
                "WebSockets closed 1008).",
                writeRate_->refused());
    context_->writeMetrics(out);
    fetcher_->writeMetrics(out);
    if (webhooks_) webhooks_->writeMetrics(out);
    bus_->writeMetrics(out);
}

}  // namespace partyline
