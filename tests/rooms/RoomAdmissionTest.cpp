// RoomAdmission: the node's room limit and each address's new-room rate, on a clock the test moves.
#include <doctest/doctest.h>

#include "rooms/RoomAdmission.h"

namespace partyline {

using namespace std::chrono_literals;

namespace {
Limits limitsOf(size_t maxRooms, size_t perSecond, size_t burst) {
    Limits limits;
    limits.max_rooms = maxRooms;
    limits.max_new_rooms_per_ip_per_second = perSecond;
    limits.new_room_burst = burst;
    return limits;
}
}  // namespace

TEST_SUITE("rooms.RoomAdmission") {
    const auto t0 = RoomAdmission::Clock::time_point{} + 1h;

    TEST_CASE("at max_rooms a new room is refused ResourceExhausted, naming the key") {
        RoomAdmission admission(limitsOf(3, 0, 1));
        CHECK(admission.admit(2, "10.0.0.1", t0).isOk());
        Status refused = admission.admit(3, "10.0.0.1", t0);
        CHECK(refused.code() == Code::ResourceExhausted);
        CHECK(refused.message().find("limits.max_rooms") != std::string::npos);
    }

    TEST_CASE("one address past its burst is refused RateLimited; another address is not") {
        RoomAdmission admission(limitsOf(1000, 2, 5));
        for (int i = 0; i < 5; ++i) CHECK(admission.admit(0, "10.0.0.1", t0).isOk());
        Status refused = admission.admit(0, "10.0.0.1", t0);
        CHECK(refused.code() == Code::RateLimited);
        CHECK(refused.message().find("limits.max_new_rooms_per_ip_per_second") != std::string::npos);
        CHECK(admission.admit(0, "10.0.0.2", t0).isOk());
        CHECK(admission.admit(0, "10.0.0.1", t0 + 500ms).isOk());  // one token at 2/s
        CHECK(admission.admit(0, "10.0.0.1", t0 + 500ms).code() == Code::RateLimited);
    }

    TEST_CASE("a rate of 0 is no limit") {
        RoomAdmission admission(limitsOf(1000000, 0, 1));
        for (int i = 0; i < 1000; ++i) REQUIRE(admission.admit(0, "10.0.0.1", t0).isOk());
        CHECK(admission.trackedAddresses() == 0);
    }

    TEST_CASE("buckets of idle addresses are forgotten: memory follows busy addresses") {
        RoomAdmission admission(limitsOf(1000000, 10, 10));
        for (int i = 0; i < 5000; ++i) admission.admit(0, "a" + std::to_string(i), t0);
        CHECK(admission.trackedAddresses() <= 5000);
        // Long after, every bucket is full again: new addresses make the old ones go.
        for (int i = 0; i < 5000; ++i) admission.admit(0, "b" + std::to_string(i), t0 + 1h);
        CHECK(admission.trackedAddresses() < 10000);
    }
}

}  // namespace partyline
