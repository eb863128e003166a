#include <doctest/doctest.h>

#include "core/AddressRange.h"

using partyline::AddressRange;

TEST_CASE("an address alone is a block of one") {
    auto range = AddressRange::parse("10.1.2.3");
    REQUIRE(range);
    CHECK(range->contains("10.1.2.3"));
    CHECK(range->contains("::ffff:10.1.2.3"));  // a dual-stack listener's IPv4 peer
    CHECK_FALSE(range->contains("10.1.2.4"));
    CHECK_FALSE(range->contains("not an address"));
}

TEST_CASE("IPv4 CIDR blocks match by their prefix") {
    auto range = AddressRange::parse("172.16.0.0/12");
    REQUIRE(range);
    CHECK(range->contains("172.16.0.1"));
    CHECK(range->contains("172.31.255.255"));
    CHECK_FALSE(range->contains("172.32.0.0"));
    CHECK_FALSE(range->contains("::1"));
    auto all = AddressRange::parse("0.0.0.0/0");
    REQUIRE(all);
    CHECK(all->contains("8.8.8.8"));
    CHECK_FALSE(all->contains("2001:db8::1"));  // /0 of IPv4 is every IPv4 address, not IPv6
}

TEST_CASE("IPv6 blocks") {
    auto range = AddressRange::parse("fd00::/8");
    REQUIRE(range);
    CHECK(range->contains("fd12:3456::1"));
    CHECK_FALSE(range->contains("fe80::1"));
    auto loopback = AddressRange::parse("::1");
    REQUIRE(loopback);
    CHECK(loopback->contains("::1"));
    CHECK_FALSE(loopback->contains("127.0.0.1"));
}

TEST_CASE("what is not an address or block is refused") {
    for (const char* bad : {"", "localhost", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/8x", "10.0.0/8",
                            "10.0.0.0/-1", " 10.0.0.1"}) {
        CAPTURE(bad);
        CHECK_FALSE(AddressRange::parse(bad));
    }
}
