// HistoryPage: where a page of the log ends, over the in-memory bus.
#include <doctest/doctest.h>

#include <future>

#include "bus/MemoryBus.h"
#include "core/Json.h"
#include "rooms/HistoryPage.h"

using namespace partyline;

namespace {

const std::string kRoom = "partyline.room.chat.r";

void store(MemoryBus& bus, const std::string& data) {
    std::promise<Result<uint64_t>> stored;
    bus.publish(kRoom, data, {}, [&](Result<uint64_t> r) { stored.set_value(std::move(r)); });
    REQUIRE(stored.get_future().get().isOk());
}

LogEntry entryOf(uint64_t seq, std::string data) {
    LogEntry entry;
    entry.seq = seq;
    entry.data = std::move(data);
    return entry;
}

std::vector<uint64_t> seqs(const HistoryPage& page) {
    std::vector<uint64_t> out;
    for (const auto& e : page.entries) out.push_back(e.seq);
    return out;
}

}  // namespace

TEST_CASE("an entry's size is that of its JSON, escapes included") {
    for (std::string data : {std::string(), std::string("plain"), std::string(100, '\x01'),
                             std::string("\"quoted\" \\ and \xff not UTF-8"), std::string("h\xc3\xa9")}) {
        LogEntry entry = entryOf(12345, data);
        CAPTURE(data);
        CHECK(historyEntryBytes(entry) == historyEntryJson(entry).size());
        CHECK(historyEntryJson(entry) == "{\"seq\":12345,\"binary\":false,\"data\":" + jsonQuote(data) + "}");
    }
    LogEntry control = entryOf(1, std::string(1000, '\x01'));
    CHECK(historyEntryBytes(control) > 6000);  // \u0001 per byte
}

TEST_CASE("a page ends before the entry that would take it past the budget, and says where to go on") {
    MemoryBus bus;
    for (int i = 0; i < 10; ++i) store(bus, std::string(100, 'a'));
    const size_t one = historyEntryBytes(entryOf(5, std::string(100, 'a')));
    auto page = HistoryReader::readAll(bus, kRoom, 0, 1000, 3 * one + 2);
    REQUIRE(page.isOk());
    CHECK(seqs(page.value()) == std::vector<uint64_t>{1, 2, 3});
    CHECK(page->more);
    CHECK(page->next == 3);
    page = HistoryReader::readAll(bus, kRoom, page->next, 1000, 3 * one + 2);
    CHECK(seqs(page.value()) == std::vector<uint64_t>{4, 5, 6});
    // The last page: no more.
    page = HistoryReader::readAll(bus, kRoom, 8, 1000, 3 * one + 2);
    CHECK(seqs(page.value()) == std::vector<uint64_t>{9, 10});
    CHECK_FALSE(page->more);
    CHECK(page->next == 10);
    // Past the end: empty, next stays.
    page = HistoryReader::readAll(bus, kRoom, 10, 1000, 3 * one + 2);
    CHECK(page->entries.empty());
    CHECK_FALSE(page->more);
    CHECK(page->next == 10);
}

TEST_CASE("a write larger than the budget comes alone, so paging always moves on") {
    MemoryBus bus;
    store(bus, "small");
    store(bus, std::string(5000, '\x02'));
    store(bus, "small");
    auto page = HistoryReader::readAll(bus, kRoom, 0, 1000, 1000);
    CHECK(seqs(page.value()) == std::vector<uint64_t>{1});
    CHECK(page->more);
    page = HistoryReader::readAll(bus, kRoom, 1, 1000, 1000);
    CHECK(seqs(page.value()) == std::vector<uint64_t>{2});
    CHECK(page->more);
    page = HistoryReader::readAll(bus, kRoom, 2, 1000, 1000);
    CHECK(seqs(page.value()) == std::vector<uint64_t>{3});
    CHECK_FALSE(page->more);
}

TEST_CASE("a page of `limit` entries says more only when the log goes on") {
    MemoryBus bus;
    for (int i = 0; i < 4; ++i) store(bus, "x");
    auto page = HistoryReader::readAll(bus, kRoom, 0, 2, 1 << 20);
    CHECK(seqs(page.value()) == std::vector<uint64_t>{1, 2});
    CHECK(page->more);
    page = HistoryReader::readAll(bus, kRoom, 2, 2, 1 << 20);
    CHECK(seqs(page.value()) == std::vector<uint64_t>{3, 4});
    CHECK_FALSE(page->more);
}

TEST_CASE("a reader hands entries out one by one and keeps what it gave when the log fails") {
    MemoryBus bus;
    for (int i = 0; i < 3; ++i) store(bus, "x");
    HistoryReader reader(bus, kRoom, 0, 100, 1 << 20);
    REQUIRE(reader.open().isOk());
    CHECK_FALSE(reader.truncated());
    auto first = reader.next();
    REQUIRE(first.isOk());
    REQUIRE(first->has_value());
    CHECK((*first)->seq == 1);
    bus.setAvailable(false);
    CHECK_FALSE(reader.next().isOk());
    CHECK(reader.nextSince() == 1);
    bus.setAvailable(true);
}
