// PartitionedKeyValue: the KeyValue contract over several buckets, each room's keys in its
// partition's bucket, and one watch over all of them.
#include <doctest/doctest.h>

#include "KeyValueContract.h"
#include "bus/MemoryKeyValue.h"
#include "bus/Partition.h"
#include "bus/PartitionedKeyValue.h"
#include "bus/Subject.h"

using namespace partyline;
using namespace partyline::testing;

namespace {

std::vector<std::shared_ptr<MemoryKeyValue>> memoryBuckets(size_t count) {
    std::vector<std::shared_ptr<MemoryKeyValue>> buckets;
    for (size_t i = 0; i < count; ++i) buckets.push_back(std::make_shared<MemoryKeyValue>());
    return buckets;
}

std::vector<std::shared_ptr<KeyValue>> asKeyValues(
    const std::vector<std::shared_ptr<MemoryKeyValue>>& buckets) {
    return {buckets.begin(), buckets.end()};
}

// A bucket whose watch the test drives by hand, to start it over with a Reset.
class ScriptedBucket final : public KeyValue {
   public:
    Result<KvEntry> get(const std::string&, Clock::time_point) override {
        return Status(Code::NotFound, "-");
    }
    Result<uint64_t> put(const std::string&, std::string_view, std::optional<uint64_t>,
                         Clock::time_point) override {
        return uint64_t(1);
    }
    Status erase(const std::string&, std::optional<uint64_t>, Clock::time_point) override { return {}; }
    Result<std::vector<KvEntry>> list(const std::string&, size_t, Clock::time_point) override {
        return std::vector<KvEntry>{};
    }
    Result<std::unique_ptr<Subscription>> watch(WatchCallback onChange) override {
        onChange_ = std::move(onChange);
        return std::unique_ptr<Subscription>(std::make_unique<Subscription>());
    }
    void send(KvChange change) { onChange_(std::move(change)); }

   private:
    WatchCallback onChange_;
};

}  // namespace

TEST_CASE("PartitionedKeyValue keeps the KeyValue contract over three buckets") {
    auto buckets = memoryBuckets(3);
    PartitionedKeyValue kv(asKeyValues(buckets));
    checkValuesAndRevisions(kv);
    checkCompareAndSet(kv);
    checkList(kv);
    checkWatch(kv);
}

TEST_CASE("a room's keys are in the bucket of its partition, and only there") {
    auto buckets = memoryBuckets(3);
    PartitionedKeyValue kv(asKeyValues(buckets));
    for (int i = 0; i < 30; ++i) {
        const std::string room = "room-" + std::to_string(i);
        REQUIRE(kv.put("chat." + room + ".k", "v", std::nullopt, soon()).isOk());
        REQUIRE(kv.put("chat." + room, "alarm", std::nullopt, soon()).isOk());
        const int home = partitionOf("chat", room, 3);
        for (int b = 0; b < 3; ++b) {
            CAPTURE(room);
            CHECK(buckets[size_t(b)]->get("chat." + room + ".k", soon()).isOk() == (b == home));
            CHECK(buckets[size_t(b)]->get("chat." + room, soon()).isOk() == (b == home));
        }
    }
}

TEST_CASE("the partition is the room's id, decoded from its key's tokens") {
    auto buckets = memoryBuckets(3);
    PartitionedKeyValue kv(asKeyValues(buckets));
    const std::string room = "a room/1";  // "a=20room=2F1" as a token
    const std::string key = "chat." + encodeSubjectToken(room).value() + ".k";
    REQUIRE(kv.put(key, "v", std::nullopt, soon()).isOk());
    CHECK(buckets[size_t(partitionOf("chat", room, 3))]->get(key, soon()).isOk());
}

TEST_CASE("a key that names no room is refused") {
    auto buckets = memoryBuckets(3);
    PartitionedKeyValue kv(asKeyValues(buckets));
    for (const char* bad : {"", "chat", "chat.=ZZ", ".lobby"}) {
        CAPTURE(bad);
        CHECK(kv.put(bad, "v", std::nullopt, soon()).status().code() == Code::InvalidArgument);
        CHECK(kv.get(bad, soon()).status().code() == Code::InvalidArgument);
        CHECK(kv.erase(bad, std::nullopt, soon()).code() == Code::InvalidArgument);
        CHECK(kv.list(bad, 1024, soon()).status().code() == Code::InvalidArgument);
    }
}

TEST_CASE("one bucket's Reset is followed by the other buckets' entries again") {
    auto a = std::make_shared<ScriptedBucket>();
    auto b = std::make_shared<ScriptedBucket>();
    PartitionedKeyValue kv({a, b});
    std::vector<KvChange> seen;
    auto watch = kv.watch([&](KvChange change) { seen.push_back(std::move(change)); });
    REQUIRE(watch.isOk());
    a->send({KvChange::Kind::Reset, {}});
    a->send({KvChange::Kind::Put, {"p.r1", "a1", 1}});
    b->send({KvChange::Kind::Reset, {}});
    b->send({KvChange::Kind::Put, {"p.r2", "b1", 1}});
    b->send({KvChange::Kind::Put, {"p.r3", "b2", 2}});
    b->send({KvChange::Kind::Delete, {"p.r3", "", 3}});
    seen.clear();
    a->send({KvChange::Kind::Reset, {}});  // bucket a starts over: b's entry must not be forgotten
    REQUIRE(seen.size() == 2);
    CHECK(seen[0].kind == KvChange::Kind::Reset);
    CHECK(seen[1].kind == KvChange::Kind::Put);
    CHECK(seen[1].entry.key == "p.r2");
    CHECK(seen[1].entry.value == "b1");
}

TEST_CASE("one bucket is used as it is") {
    auto buckets = memoryBuckets(1);
    PartitionedKeyValue kv(asKeyValues(buckets));
    REQUIRE(kv.put("anything", "v", std::nullopt, soon()).isOk());
    CHECK(buckets[0]->get("anything", soon())->value == "v");
}
