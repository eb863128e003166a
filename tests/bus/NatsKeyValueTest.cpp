// NatsKeyValue against a real nats-server: the KeyValue contract, the bucket
// as NATS tools see it, and what a lost server does to calls and watches.
#include <doctest/doctest.h>

#include <filesystem>

#include "KeyValueContract.h"
#include "bus/EmbeddedNats.h"
#include "bus/NatsBus.h"
#include "bus/NatsKeyValue.h"

using namespace partyline;
using namespace partyline::testing;
using namespace std::chrono_literals;

namespace {

struct KvFixture {
    TempDir dir;
    std::unique_ptr<EmbeddedNats> server;
    std::unique_ptr<NatsBus> bus;
    std::shared_ptr<KeyValue> kv;

    KvFixture() {
        auto started = EmbeddedNats::start(dir.path() + "/nats");
        REQUIRE_MESSAGE(started.isOk(), started.status().toString());
        server = std::move(started.value());
        auto connected = NatsBus::connect({}, server->url(), "kv-test");
        REQUIRE_MESSAGE(connected.isOk(), connected.status().toString());
        bus = std::move(connected.value());
        auto opened = bus->openKeyValue({"TEST_KV", 1, {}});
        REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
        kv = opened.value();
    }
    ~KvFixture() {
        kv.reset();  // before the bus whose connection it borrows
        bus.reset();
        server.reset();
    }
};

// After the first Reset: each Put and Delete once, their revisions rising.
void checkOnceInOrder(const std::vector<KvChange>& items) {
    REQUIRE(!items.empty());
    CHECK(items.front().kind == KvChange::Kind::Reset);
    uint64_t last = 0;
    for (size_t i = 1; i < items.size(); ++i) {
        if (items[i].kind == KvChange::Kind::Reset) continue;
        CHECK_MESSAGE(items[i].entry.revision > last, "change " << i << " of " << items[i].entry.key);
        last = items[i].entry.revision;
    }
}

// A bucket as an older node made it: no republish.
void createPlainBucket(const std::string& url, const char* bucket) {
    natsConnection* nc = nullptr;
    REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
    jsCtx* js = nullptr;
    REQUIRE(natsConnection_JetStream(&js, nc, nullptr) == NATS_OK);
    kvConfig config;
    kvConfig_Init(&config);
    config.Bucket = bucket;
    config.History = 1;
    kvStore* kv = nullptr;
    CHECK(js_CreateKeyValue(&kv, js, &config) == NATS_OK);
    kvStore_Destroy(kv);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

size_t countOf(const std::vector<KvChange>& items, KvChange::Kind kind) {
    size_t n = 0;
    for (const auto& c : items) n += c.kind == kind ? 1 : 0;
    return n;
}

}  // namespace

TEST_SUITE("nats") {
    TEST_CASE("NatsKeyValue keeps the KeyValue contract") {
        KvFixture f;
        checkValuesAndRevisions(*f.kv);
        checkCompareAndSet(*f.kv);
        checkList(*f.kv);
        checkWatch(*f.kv);
    }

    TEST_CASE("opening a bucket again binds to it and sees its entries") {
        KvFixture f;
        REQUIRE(f.kv->put("a.b.c", "kept", std::nullopt, soon()).isOk());
        auto again = f.bus->openKeyValue({"TEST_KV", 1, {}});
        REQUIRE(again.isOk());
        CHECK(again.value()->get("a.b.c", soon())->value == "kept");
        auto bad = f.bus->openKeyValue({"NO.DOTS", 1, {}});
        CHECK_FALSE(bad.isOk());
    }

    TEST_CASE("with the server gone, calls fail by their deadline; values and watches survive a restart") {
        KvFixture f;
        REQUIRE(f.kv->put("r.s.k", "before", std::nullopt, soon()).isOk());
        REQUIRE(f.kv->put("r.s.kept", "kept", std::nullopt, soon()).isOk());
        Collector<KvChange> changes;
        auto watch = f.kv->watch([&](KvChange c) { changes.add(std::move(c)); });
        REQUIRE(watch.isOk());
        REQUIRE(changes.waitFor(3));

        f.server->killHard();
        auto start = std::chrono::steady_clock::now();
        auto get = f.kv->get("r.s.k", KeyValue::Clock::now() + 3s);
        CHECK_FALSE(get.isOk());
        CHECK((get.status().code() == Code::Unavailable || get.status().code() == Code::Timeout));
        CHECK(std::chrono::steady_clock::now() - start < 3s + NatsKeyValue::kAttemptWait + 1s);
        start = std::chrono::steady_clock::now();
        auto put = f.kv->put("r.s.k", "lost?", std::nullopt, KeyValue::Clock::now() + 3s);
        REQUIRE_FALSE(put.isOk());
        CHECK(put.status().message().find("the write may still be stored") != std::string::npos);
        CHECK(std::chrono::steady_clock::now() - start < 3s + NatsKeyValue::kAttemptWait + 1s);

        REQUIRE(f.server->restart().isOk());
        auto kept = f.kv->get("r.s.kept", KeyValue::Clock::now() + 10s);
        REQUIRE_MESSAGE(kept.isOk(), kept.status().toString());
        CHECK(kept->value == "kept");  // written before the server died, untouched since
        // A write buffered while the server was away may land after the restart, with the same id.
        auto put2 = f.kv->put("r.s.k", "after", std::nullopt, KeyValue::Clock::now() + 10s);
        REQUIRE_MESSAGE(put2.isOk(), put2.status().toString());
        CHECK(f.kv->get("r.s.k", soon())->value == "after");
        // The watch went on where it was (the bucket is the same): no Reset, "after" once.
        REQUIRE(eventually([&] {
            auto items = changes.items();
            return !items.empty() && items.back().kind == KvChange::Kind::Put &&
                   items.back().entry.value == "after";
        }));
        std::this_thread::sleep_for(300ms);
        checkOnceInOrder(changes.items());
        CHECK(countOf(changes.items(), KvChange::Kind::Reset) == 1);
    }

    TEST_CASE(
        "a watch that misses the bucket's copies reads the changes from the stream, each once, in order") {
        KvFixture f;
        Collector<KvChange> changes;
        auto watch = f.kv->watch([&](KvChange c) { changes.add(std::move(c)); });
        REQUIRE(watch.isOk());
        REQUIRE(changes.waitFor(1));  // the Reset of an empty bucket
        // Another node's configuration moves the copies elsewhere: the watch gets none.
        auto elsewhere = f.bus->openKeyValue({"TEST_KV", 1, "elsewhere.kv"});
        REQUIRE_MESSAGE(elsewhere.isOk(), elsewhere.status().toString());
        for (int i = 1; i <= 5; ++i)
            REQUIRE(
                f.kv->put("m.r.k" + std::to_string(i), "v" + std::to_string(i), std::nullopt, soon()).isOk());
        // The watch asks the stream every 5 s.
        REQUIRE(changes.waitFor(6, 15s));
        // Back to where this watch listens: the next copy is far past what it has delivered, so the
        // change in between is read from the stream before it.
        REQUIRE(f.kv->put("m.r.k6", "v6", std::nullopt, soon()).isOk());
        auto back = f.bus->openKeyValue({"TEST_KV", 1, {}});
        REQUIRE(back.isOk());
        REQUIRE(f.kv->put("m.r.k7", "v7", std::nullopt, soon()).isOk());
        REQUIRE(changes.waitFor(8, 15s));
        std::this_thread::sleep_for(300ms);
        auto items = changes.items();
        REQUIRE(items.size() == 8);
        checkOnceInOrder(items);
        for (int i = 1; i <= 7; ++i) CHECK(items[size_t(i)].entry.value == "v" + std::to_string(i));
    }

    TEST_CASE("a bucket made by an older node is watched too: republishing added, or the writes followed") {
        KvFixture f;
        createPlainBucket(f.server->url(), "OLD_KV");
        auto opened = f.bus->openKeyValue({"OLD_KV", 1, {}});  // 2.10 and newer add the republish
        REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
        auto kv = opened.value();
        REQUIRE(kv->put("o.r.before", "0", std::nullopt, soon()).isOk());
        Collector<KvChange> changes;
        auto watch = kv->watch([&](KvChange c) { changes.add(std::move(c)); });
        REQUIRE(watch.isOk());
        REQUIRE(changes.waitFor(2));
        for (int i = 1; i <= 20; ++i)
            REQUIRE(kv->put("o.r.k" + std::to_string(i), std::to_string(i), std::nullopt, soon()).isOk());
        REQUIRE(kv->put("o.r.k1", "refused", uint64_t(1), soon()).status().code() == Code::Conflict);
        REQUIRE(kv->erase("o.r.before", std::nullopt, soon()).isOk());
        // Distinct keys: a watch that reads late sees only the last value of a key (history 1).
        REQUIRE(changes.waitFor(23, 15s));
        std::this_thread::sleep_for(300ms);
        auto items = changes.items();
        REQUIRE(items.size() == 23);
        checkOnceInOrder(items);
        for (int i = 1; i <= 20; ++i) CHECK(items[size_t(i + 1)].entry.value == std::to_string(i));
        CHECK(items[22].kind == KvChange::Kind::Delete);
        watch.value().reset();
        kv.reset();
    }

    TEST_CASE("a watch of a bucket made again on an empty store starts over with a Reset") {
        KvFixture f;
        REQUIRE(f.kv->put("e.r.old", "old", std::nullopt, soon()).isOk());
        Collector<KvChange> changes;
        auto watch = f.kv->watch([&](KvChange c) { changes.add(std::move(c)); });
        REQUIRE(watch.isOk());
        REQUIRE(changes.waitFor(2));
        f.server->killHard();
        std::filesystem::remove_all(f.dir.path() + "/nats/jetstream");
        REQUIRE(f.server->restart().isOk());
        // The next node to open the bucket makes it again.
        REQUIRE(eventually([&] { return f.bus->openKeyValue({"TEST_KV", 1, {}}).isOk(); }, 20s));
        REQUIRE(f.kv->put("e.r.new", "new", std::nullopt, KeyValue::Clock::now() + 10s).isOk());
        REQUIRE(eventually(
            [&] {
                auto items = changes.items();
                return items.size() >= 4 && items.back().entry.value == "new";
            },
            20s));
        auto items = changes.items();
        REQUIRE(items.size() == 4);
        CHECK(items[2].kind == KvChange::Kind::Reset);
        CHECK(items[3].entry.key == "e.r.new");
        CHECK(items[3].entry.revision == 1);
    }
}
