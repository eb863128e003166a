// What every KeyValue must do, run against MemoryKeyValue and NatsKeyValue
// alike, so the in-memory bucket the room tests use behaves as the real one.
#pragma once

#include <doctest/doctest.h>

#include <chrono>
#include <string>
#include <vector>

#include "BusTestSupport.h"
#include "bus/KeyValue.h"

namespace partyline::testing {

inline KeyValue::Clock::time_point soon() {
    return KeyValue::Clock::now() + std::chrono::seconds(5);
}

inline void checkValuesAndRevisions(KeyValue& kv) {
    auto missing = kv.get("p.r.missing", soon());
    REQUIRE_FALSE(missing.isOk());
    CHECK(missing.status().code() == Code::NotFound);

    auto first = kv.put("p.r.a", "one", std::nullopt, soon());
    REQUIRE(first.isOk());
    auto read = kv.get("p.r.a", soon());
    REQUIRE(read.isOk());
    CHECK(read->key == "p.r.a");
    CHECK(read->value == "one");
    CHECK(read->revision == first.value());
    auto second = kv.put("p.r.a", std::string("two\0bytes", 9), std::nullopt, soon());
    REQUIRE(second.isOk());
    CHECK(second.value() > first.value());
    CHECK(kv.get("p.r.a", soon())->value == std::string("two\0bytes", 9));
}

inline void checkCompareAndSet(KeyValue& kv) {
    auto created = kv.put("p.r.cas", "a", uint64_t(0), soon());
    REQUIRE(created.isOk());
    auto again = kv.put("p.r.cas", "b", uint64_t(0), soon());
    REQUIRE_FALSE(again.isOk());
    CHECK(again.status().code() == Code::Conflict);
    auto stale = kv.put("p.r.cas", "b", created.value() + 100, soon());
    CHECK(stale.status().code() == Code::Conflict);
    auto updated = kv.put("p.r.cas", "b", created.value(), soon());
    REQUIRE(updated.isOk());
    CHECK(kv.get("p.r.cas", soon())->value == "b");

    CHECK(kv.erase("p.r.cas", created.value(), soon()).code() == Code::Conflict);
    CHECK(kv.get("p.r.cas", soon()).isOk());
    CHECK(kv.erase("p.r.cas", updated.value(), soon()).isOk());
    CHECK(kv.get("p.r.cas", soon()).status().code() == Code::NotFound);
    // Deleted: "must not exist" holds again.
    auto recreated = kv.put("p.r.cas", "c", uint64_t(0), soon());
    REQUIRE(recreated.isOk());
    CHECK(kv.get("p.r.cas", soon())->value == "c");
    // Deleting a key with no value is no error.
    CHECK(kv.erase("p.r.never", std::nullopt, soon()).isOk());
}

inline void checkList(KeyValue& kv) {
    for (const char* key : {"q.r.b", "q.r.a", "q.r.c.deeper", "q.rr.x", "q.s.a"})
        REQUIRE(kv.put(key, std::string("v-") + key, std::nullopt, soon()).isOk());
    REQUIRE(kv.erase("q.r.b", std::nullopt, soon()).isOk());
    REQUIRE(kv.put("q.r.d", "dd", std::nullopt, soon()).isOk());
    auto listed = kv.list("q.r", 1 << 20, soon());
    REQUIRE(listed.isOk());
    std::vector<std::string> keys;
    for (const auto& e : listed.value()) keys.push_back(e.key + "=" + e.value);
    CHECK(keys == std::vector<std::string>{"q.r.a=v-q.r.a", "q.r.d=dd"});
    auto tooMuch = kv.list("q.r", 4, soon());
    REQUIRE_FALSE(tooMuch.isOk());
    CHECK(tooMuch.status().code() == Code::TooLarge);
    auto none = kv.list("q.nothing", 1 << 20, soon());
    REQUIRE(none.isOk());
    CHECK(none->empty());
}

inline void checkWatch(KeyValue& kv) {
    REQUIRE(kv.put("w.r.before", "1", std::nullopt, soon()).isOk());
    Collector<KvChange> changes;
    auto watch = kv.watch([&](KvChange c) { changes.add(std::move(c)); });
    REQUIRE(watch.isOk());
    auto isBefore = [&] {
        for (const auto& c : changes.items())
            if (c.kind == KvChange::Kind::Put && c.entry.key == "w.r.before") return true;
        return false;
    };
    // The entry written last comes last of the current ones.
    REQUIRE(eventually(isBefore));
    CHECK(changes.items().front().kind == KvChange::Kind::Reset);
    const size_t seen = changes.size();
    auto revision = kv.put("w.r.after", "2", std::nullopt, soon());
    REQUIRE(revision.isOk());
    REQUIRE(kv.erase("w.r.before", std::nullopt, soon()).isOk());
    REQUIRE(changes.waitFor(seen + 2));
    auto items = changes.items();
    CHECK(items[seen].kind == KvChange::Kind::Put);
    CHECK(items[seen].entry.key == "w.r.after");
    CHECK(items[seen].entry.value == "2");
    CHECK(items[seen].entry.revision == revision.value());
    CHECK(items[seen + 1].kind == KvChange::Kind::Delete);
    CHECK(items[seen + 1].entry.key == "w.r.before");
    watch.value().reset();
    const size_t stopped = changes.size();
    REQUIRE(kv.put("w.r.later", "3", std::nullopt, soon()).isOk());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    CHECK(changes.size() == stopped);  // nothing after the subscription is gone
}

}  // namespace partyline::testing
