// Fixtures for the room tests: a recording fake client, one node's worth of
// rooms over a MemoryBus (with the key-value buckets of room.storage and alarms), each
// script written to a temporary file, and other nodes beside it.
#pragma once

#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "bus/MemoryBus.h"
#include "net/Fetcher.h"
#include "rooms/RoomLinks.h"
#include "rooms/RoomRegistry.h"

namespace partyline::testing {

using namespace std::chrono_literals;

struct Received {
    bool binary;
    std::string data;
};

// Decodes the server frames it is given (unmasked, FIN set).
class FakeClient : public Client {
   public:
    explicit FakeClient(std::string id, bool versioned = false) : id_(std::move(id)), versioned_(versioned) {}
    const std::string& id() const override { return id_; }
    bool versioned() const override { return versioned_; }
    void send(const FramePtr& frame) override {
        const std::string& f = *frame;
        size_t len = uint8_t(f[1]) & 0x7f, offset = 2;
        if (len == 126) {
            len = (uint8_t(f[2]) << 8) | uint8_t(f[3]);
            offset = 4;
        } else if (len == 127) {
            len = 0;
            for (int i = 0; i < 8; ++i) len = (len << 8) | uint8_t(f[2 + i]);
            offset = 10;
        }
        std::lock_guard lock(mutex_);
        received_.push_back({(f[0] & 0x0f) == 2, f.substr(offset, len)});
        changed_.notify_all();
    }
    void close(uint16_t code, std::string_view reason) override {
        std::lock_guard lock(mutex_);
        closeCode_ = code;
        closeReason_ = reason;
        changed_.notify_all();
    }
    std::vector<Received> waitFor(size_t count, std::chrono::milliseconds timeout = 3s) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, timeout, [&] { return received_.size() >= count; });
        return received_;
    }
    bool closed() const override {
        std::lock_guard lock(mutex_);
        return closeCode_ != 0;
    }
    size_t queuedBytes() const override { return 0; }
    uint16_t waitForClose(std::chrono::milliseconds timeout = 3s) {
        std::unique_lock lock(mutex_);
        changed_.wait_for(lock, timeout, [&] { return closeCode_ != 0; });
        return closeCode_;
    }
    std::string closeReason() {
        std::lock_guard lock(mutex_);
        return closeReason_;
    }

   private:
    std::string id_;
    bool versioned_;
    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Received> received_;
    uint16_t closeCode_ = 0;
    std::string closeReason_;
};

inline std::vector<std::string> texts(const std::vector<Received>& received) {
    std::vector<std::string> out;
    for (const auto& r : received) out.push_back(r.data);
    return out;
}

// A GET request with these query parameters (room.query in the script).
inline HttpRequest queryRequest(std::map<std::string, std::string> query) {
    HttpRequest request;
    request.method = "GET";
    for (auto& [k, v] : query) request.query[k] = v;
    return request;
}

// One node's worth of rooms over a MemoryBus; each script is written to a temp file.
using Scripts = std::map<std::string, std::string>;

// The buckets a Rooms opens on its bus, for room.storage and alarms.
inline const KeyValueConfig kStorageBucket{"STORAGE", 1, {}};
inline const KeyValueConfig kAlarmBucket{"ALARMS", 1, {}};

struct Rooms {
    // Parties named in `withStorage` have storage: true.
    // `env`: parties.X.env by party name.
    explicit Rooms(Scripts scripts, Limits limitsIn = {}, size_t maxPerRoom = SIZE_MAX,
                   std::set<std::string> withStorage = {},
                   std::map<std::string, std::map<std::string, std::string>> env = {})
        : limits(limitsIn), bus(maxPerRoom) {
        dir = std::filesystem::temp_directory_path() /
              ("partyline-shard-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(dir);
        for (const auto& [name, source] : scripts) {
            auto path = (dir / (name + ".lua")).string();
            std::ofstream(path) << source;
            config.parties[name] = {name, {}, path, withStorage.count(name) > 0, "list", {}, {}, {}, {}};
            for (const auto& [key, value] : env[name]) config.parties[name].env.emplace(key, Secret(value));
        }
        parties = std::make_unique<Parties>(config);
        storage = bus.openKeyValue(kStorageBucket).value();
        alarms = bus.openKeyValue(kAlarmBucket).value();
        context = makeContext("node-a");
        registry = std::make_unique<RoomRegistry>(*context, *parties);
        linkRooms();
    }
    // room.parties over this node's registry.
    void linkRooms() {
        links = std::make_unique<RoomLinks>(*registry, *parties, bus, timer, "node-a");
        context->links = links.get();
    }
    ~Rooms() {
        links->close();
        registry.reset();
        // Both stop before either is destroyed: each one's tasks post to the other.
        executor.stop();
        blocking.stop();
        // As on a node: no handler is left to call it, and its last answers are dropped.
        fetcher.reset();
        std::filesystem::remove_all(dir);
    }
    // Before any shard: fetch goes through a Fetcher of `fetchLimits`, and the parties named in
    // `partyAllow` get that parties.X.fetch.allow.
    void enableFetch(net::FetchLimits fetchLimits,
                     std::map<std::string, std::vector<std::string>> partyAllow = {}) {
        fetcher = std::make_unique<net::Fetcher>(std::move(fetchLimits));
        context->fetcher = fetcher.get();
        if (partyAllow.empty()) return;
        links->close();
        registry.reset();
        for (auto& [name, allow] : partyAllow)
            config.parties[name].fetch = PartyFetchConfig{std::move(allow)};
        parties = std::make_unique<Parties>(config);
        registry = std::make_unique<RoomRegistry>(*context, *parties);
        linkRooms();
    }
    std::shared_ptr<Shard> shard(const std::string& party, const std::string& room) {
        auto s = registry->shard(party, room);
        REQUIRE(s.isOk());
        return s.value();
    }
    // The context of another node on the same bus (see OtherNode); it lives
    // as long as this, since the shards' last tasks may still use it.
    ShardContext& addNode(const std::string& nodeId) {
        others.push_back(makeContext(nodeId));
        return *others.back();
    }
    std::unique_ptr<ShardContext> makeContext(const std::string& nodeId) {
        std::unique_ptr<ShardContext> made(
            new ShardContext{bus, executor, timer, limits, nodeId, "partyline"});
        made->blocking = &blocking;
        made->storage = storage.get();
        made->alarms = alarms.get();
        return made;
    }
    HttpResponse request(const std::shared_ptr<Shard>& shard, HttpRequest req) {
        std::promise<HttpResponse> promise;
        auto future = promise.get_future();
        shard->request(std::move(req), [&](HttpResponse r) { promise.set_value(std::move(r)); });
        REQUIRE(future.wait_for(3s) == std::future_status::ready);
        return future.get();
    }
    // The body of onRequest's answer to a GET with this query, which must be 200.
    std::string answer(const std::shared_ptr<Shard>& shard, std::map<std::string, std::string> query) {
        HttpResponse response = request(shard, queryRequest(std::move(query)));
        CHECK_MESSAGE(response.status == 200, response.body);
        return response.body;
    }

    static inline int counter = 0;
    std::filesystem::path dir;
    Config config;
    Limits limits;
    std::shared_ptr<KeyValue> storage;
    std::shared_ptr<KeyValue> alarms;
    // Destroyed after the bus, executors and timer, whose last callbacks and
    // tasks still use them (a shard's last reference may go on the bus thread).
    std::unique_ptr<ShardContext> context;
    std::vector<std::unique_ptr<ShardContext>> others;
    std::unique_ptr<Parties> parties;
    // Its destructor runs the callbacks still queued and joins its thread.
    MemoryBus bus;
    Executor blocking{2};
    Executor executor{2};
    Timer timer;
    std::unique_ptr<RoomRegistry> registry;
    std::unique_ptr<net::Fetcher> fetcher;  // null unless enableFetch
    std::unique_ptr<RoomLinks> links;
};

// A second node beside a Rooms: its own registry and node id over the same
// bus, bucket, executors and timer. Destroy it before the Rooms.
struct OtherNode {
    OtherNode(Rooms& rooms, const std::string& nodeId)
        : registry(std::make_unique<RoomRegistry>(rooms.addNode(nodeId), *rooms.parties)) {}
    std::shared_ptr<Shard> shard(const std::string& party, const std::string& room) {
        auto s = registry->shard(party, room);
        REQUIRE(s.isOk());
        return s.value();
    }
    std::unique_ptr<RoomRegistry> registry;
};

inline bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 2s) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        if (condition()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return condition();
}

}  // namespace partyline::testing
