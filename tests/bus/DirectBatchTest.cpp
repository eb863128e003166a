// DirectBatch: the batched Direct Get request, its answers, and a read collected over batches.
#include <doctest/doctest.h>

#include <string>

#include "bus/DirectBatch.h"

using namespace partyline;

namespace {

LogEntry entryAt(uint64_t seq) {
    LogEntry entry;
    entry.seq = seq;
    entry.prevSeq = 0;  // what a batch's Nats-Last-Sequence says for its first message
    entry.prevKnown = true;
    entry.data = "m" + std::to_string(seq);
    return entry;
}

}  // namespace

TEST_CASE("directBatchRequest: sequence, subject, batch size and byte cap") {
    CHECK(directBatchRequest(7, "pl.room.chat.lobby", 256, 1048576) ==
          R"({"seq":7,"next_by_subj":"pl.room.chat.lobby","batch":256,"max_bytes":1048576})");
}

TEST_CASE("classifyBatchAnswer: a stored message, the end of a batch and each status") {
    CHECK(classifyBatchAnswer(std::nullopt) == BatchAnswer::Entry);
    CHECK(classifyBatchAnswer("204") == BatchAnswer::End);
    CHECK(classifyBatchAnswer("404") == BatchAnswer::NotFound);
    CHECK(classifyBatchAnswer("408") == BatchAnswer::Timeout);
    CHECK(classifyBatchAnswer("503") == BatchAnswer::Unavailable);
    CHECK(classifyBatchAnswer("500") == BatchAnswer::Failed);
    CHECK(classifyBatchAnswer("413") == BatchAnswer::Failed);
}

TEST_CASE("DirectBatchRead: prevSeq chains the entries, the first one's is unknown") {
    DirectBatchRead read(10, 5);
    CHECK(read.nextSeq() == 11);
    CHECK(read.nextBatch() == 5);
    CHECK(read.add(entryAt(12)));
    CHECK(read.add(entryAt(15)));  // other subjects between: next-by-subject skipped them
    CHECK(read.nextSeq() == 16);
    CHECK(read.nextBatch() == 3);
    auto entries = read.take();
    REQUIRE(entries.size() == 2);
    CHECK_FALSE(entries[0].prevKnown);
    CHECK(entries[0].prevSeq == 0);
    CHECK(entries[1].prevKnown);
    CHECK(entries[1].prevSeq == 12);
}

TEST_CASE("DirectBatchRead: an answer already had (a late one after a retry) is dropped") {
    DirectBatchRead read(0, 10);
    CHECK(read.add(entryAt(3)));
    CHECK(read.add(entryAt(4)));
    CHECK_FALSE(read.add(entryAt(4)));
    CHECK_FALSE(read.add(entryAt(2)));
    CHECK(read.add(entryAt(9)));
    auto entries = read.take();
    REQUIRE(entries.size() == 3);
    CHECK(entries[2].seq == 9);
    CHECK(entries[2].prevSeq == 4);
}

TEST_CASE("DirectBatchRead: at most `limit` entries, each batch at most kDirectBatchMessages") {
    DirectBatchRead big(0, 1000);
    CHECK(big.nextBatch() == kDirectBatchMessages);
    DirectBatchRead read(0, 2);
    CHECK(read.add(entryAt(1)));
    CHECK(read.add(entryAt(2)));
    CHECK(read.full());
    CHECK(read.nextBatch() == 0);
    CHECK_FALSE(read.add(entryAt(3)));
    CHECK(read.take().size() == 2);
}
