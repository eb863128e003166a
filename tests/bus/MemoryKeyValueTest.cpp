// MemoryKeyValue: the KeyValue contract, and the test hooks the room tests use.
#include <doctest/doctest.h>

#include "KeyValueContract.h"
#include "bus/MemoryBus.h"

using namespace partyline;
using namespace partyline::testing;

TEST_CASE("MemoryKeyValue keeps the KeyValue contract") {
    MemoryKeyValue kv;
    checkValuesAndRevisions(kv);
    checkCompareAndSet(kv);
    checkList(kv);
    checkWatch(kv);
}

TEST_CASE("MemoryBus shares one MemoryKeyValue per bucket name") {
    MemoryBus bus;
    auto a = bus.openKeyValue({"A", 1, {}}).value();
    auto again = bus.openKeyValue({"A", 1, {}}).value();
    auto b = bus.openKeyValue({"B", 1, {}}).value();
    REQUIRE(a->put("x.y.z", "v", std::nullopt, soon()).isOk());
    CHECK(again->get("x.y.z", soon())->value == "v");
    CHECK(b->get("x.y.z", soon()).status().code() == Code::NotFound);
    CHECK(bus.openKeyValue({"", 1, {}}).status().code() == Code::InvalidArgument);
}

TEST_CASE("an unavailable MemoryKeyValue fails every call; a held one waits until released") {
    MemoryKeyValue kv;
    kv.setAvailable(false);
    CHECK(kv.put("a.b.c", "v", std::nullopt, soon()).status().code() == Code::Unavailable);
    CHECK(kv.get("a.b.c", soon()).status().code() == Code::Unavailable);
    kv.setAvailable(true);
    kv.hold(true);
    std::thread caller([&] { CHECK(kv.put("a.b.c", "v", std::nullopt, soon()).isOk()); });
    for (int i = 0; i < 200 && kv.waiting() == 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    CHECK(kv.waiting() == 1);
    kv.hold(false);
    caller.join();
    CHECK(kv.get("a.b.c", soon())->value == "v");
}
