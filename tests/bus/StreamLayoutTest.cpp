// StreamLayout: which log streams belong to the configured partition count, and what a node
// says when they do not.
#include <doctest/doctest.h>

#include "bus/StreamLayout.h"

using namespace partyline;

namespace {

NatsConfig partitions(int count) {
    NatsConfig cfg;
    cfg.partitions = count;
    return cfg;
}

std::vector<FoundStream> threePartitions(uint64_t messages) {
    return {{"PARTYLINE-0", streamDescription(0, 3), messages},
            {"PARTYLINE-1", streamDescription(1, 3), messages},
            {"PARTYLINE-2", streamDescription(2, 3), messages}};
}

}  // namespace

TEST_CASE("a partition's stream says which of how many it is; a single stream says nothing") {
    CHECK(streamDescription(1, 3) == "partyline log: partition 1 of 3");
    CHECK(streamDescription(0, 1).empty());
    CHECK(partitionCountOf("partyline log: partition 1 of 3") == 3);
    CHECK_FALSE(partitionCountOf("").has_value());
    CHECK_FALSE(partitionCountOf("partyline log: partition 1 of x").has_value());
    CHECK_FALSE(partitionCountOf("my stream").has_value());
}

TEST_CASE("no streams, or only streams of the configured count, or other names: the node starts") {
    CHECK(judgeStreamLayout(partitions(1), {}).isOk());
    CHECK(judgeStreamLayout(partitions(3), {}).isOk());
    CHECK(judgeStreamLayout(partitions(1), {{"PARTYLINE", "", 40}}).isOk());
    CHECK(judgeStreamLayout(partitions(3), threePartitions(10)).isOk());
    CHECK(judgeStreamLayout(partitions(3), {{"KV_PARTYLINE_STORAGE-0", "", 5}, {"OTHER", "", 5}}).isOk());
    // Of this layout's names but without a description (made by hand): used when in range.
    CHECK(judgeStreamLayout(partitions(3), {{"PARTYLINE-2", "", 5}}).isOk());
}

TEST_CASE("partitions: 1 over the streams of three: refused, with what was found and what to do") {
    auto found = threePartitions(10);
    std::swap(found[0], found[2]);  // as JetStream lists them: in any order
    Status refused = judgeStreamLayout(partitions(1), found);
    REQUIRE_FALSE(refused.isOk());
    CHECK(refused.code() == Code::InvalidArgument);
    CHECK(
        refused.message() ==
        "nats.partitions is 1 (stream PARTYLINE), but JetStream holds log streams of another partition "
        "count: PARTYLINE-0 (partition 0 of 3, 10 writes), PARTYLINE-1 (partition 1 of 3, 10 writes) and "
        "PARTYLINE-2 (partition 2 of 3, 10 writes). Rooms are placed by the partition count, so they would "
        "lose their history. Either start with nats.partitions: 3 as before, or move the rooms' data to the "
        "new layout and delete those streams (and their storage and alarm buckets) before starting with 1");
}

TEST_CASE("partitions: 3 over the single stream: refused, empty or not") {
    Status refused = judgeStreamLayout(partitions(3), {{"PARTYLINE", "", 1}});
    REQUIRE_FALSE(refused.isOk());
    CHECK(refused.message().find("nats.partitions is 3 (streams PARTYLINE-0 .. PARTYLINE-2)") == 0);
    CHECK(refused.message().find("PARTYLINE (a single partition, 1 write)") != std::string::npos);
    CHECK(refused.message().find("start with nats.partitions: 1 as before") != std::string::npos);
    Status empty = judgeStreamLayout(partitions(3), {{"PARTYLINE", "", 0}});
    REQUIRE_FALSE(empty.isOk());
    CHECK(empty.message().find("PARTYLINE (a single partition, empty)") != std::string::npos);
}

TEST_CASE("partitions: 5 over the streams of three: refused") {
    Status refused = judgeStreamLayout(partitions(5), threePartitions(2));
    REQUIRE_FALSE(refused.isOk());
    CHECK(refused.message().find("nats.partitions is 5 (streams PARTYLINE-0 .. PARTYLINE-4)") == 0);
    CHECK(refused.message().find("start with nats.partitions: 3 as before") != std::string::npos);
}

TEST_CASE("a stream of this layout's name beyond the count and of no known count: refused") {
    Status refused = judgeStreamLayout(partitions(3), {{"PARTYLINE-7", "", 4}});
    REQUIRE_FALSE(refused.isOk());
    CHECK(refused.message().find("PARTYLINE-7 (of no known partition count, 4 writes)") != std::string::npos);
    CHECK(refused.message().find("start with the count the data was written with") != std::string::npos);
}
