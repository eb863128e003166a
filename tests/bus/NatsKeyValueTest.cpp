// NatsKeyValue against a real nats-server: the KeyValue contract, the bucket
// as NATS tools see it, and what a lost server does to calls and watches.
#include <doctest/doctest.h>

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
        auto opened = bus->openKeyValue({"TEST_KV", 1});
        REQUIRE_MESSAGE(opened.isOk(), opened.status().toString());
        kv = opened.value();
    }
    ~KvFixture() {
        kv.reset();  // before the bus whose connection it borrows
        bus.reset();
        server.reset();
    }
};

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
        auto again = f.bus->openKeyValue({"TEST_KV", 1});
        REQUIRE(again.isOk());
        CHECK(again.value()->get("a.b.c", soon())->value == "kept");
        auto bad = f.bus->openKeyValue({"NO.DOTS", 1});
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
        // The watch started over: a Reset, then the entries as they are.
        REQUIRE(eventually([&] {
            auto items = changes.items();
            for (size_t i = 1; i < items.size(); ++i)
                if (items[i].kind == KvChange::Kind::Reset) return true;
            return false;
        }));
        REQUIRE(eventually([&] {
            auto items = changes.items();
            return !items.empty() && items.back().kind == KvChange::Kind::Put &&
                   items.back().entry.value == "after";
        }));
    }
}
