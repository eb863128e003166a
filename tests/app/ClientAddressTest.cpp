#include <doctest/doctest.h>

#include "app/ClientAddress.h"

using namespace partyline;

TEST_CASE("without trusted proxies the peer is the client, whatever the header says") {
    TrustedProxies none;
    std::string header = "1.2.3.4";
    CHECK(none.clientOf("203.0.113.7", &header) == "203.0.113.7");
    CHECK(none.clientOf("203.0.113.7", nullptr) == "203.0.113.7");
}

TEST_CASE("an untrusted peer's X-Forwarded-For is ignored") {
    TrustedProxies proxies({"10.0.0.0/8"});
    std::string header = "127.0.0.1";
    CHECK(proxies.clientOf("203.0.113.7", &header) == "203.0.113.7");
}

TEST_CASE("a trusted proxy's header gives the last address that is not a trusted proxy") {
    TrustedProxies proxies({"10.0.0.0/8", "192.168.1.1"});
    std::string one = "198.51.100.2";
    CHECK(proxies.clientOf("10.0.0.5", &one) == "198.51.100.2");
    // The client wrote the first entries itself: only the hops from trusted proxies count.
    std::string chain = "127.0.0.1, 198.51.100.2, 192.168.1.1";
    CHECK(proxies.clientOf("10.0.0.5", &chain) == "198.51.100.2");
    std::string spoofedOnly = "127.0.0.1,198.51.100.2";
    CHECK(proxies.clientOf("10.1.2.3", &spoofedOnly) == "198.51.100.2");
    std::string ipv6 = " 2001:db8::7 ";
    CHECK(proxies.clientOf("10.1.2.3", &ipv6) == "2001:db8::7");
}

TEST_CASE("a header of trusted hops only gives its first; no header gives the proxy") {
    TrustedProxies proxies({"10.0.0.0/8"});
    std::string header = "10.9.9.9, 10.8.8.8";
    CHECK(proxies.clientOf("10.0.0.5", &header) == "10.9.9.9");
    CHECK(proxies.clientOf("10.0.0.5", nullptr) == "10.0.0.5");
    std::string empty;
    CHECK(proxies.clientOf("10.0.0.5", &empty) == "10.0.0.5");
}

TEST_CASE("an entry that is not an address stops the walk at the hop that wrote it") {
    TrustedProxies proxies({"10.0.0.0/8"});
    std::string header = "198.51.100.2, unknown, 10.0.0.9";
    CHECK(proxies.clientOf("10.0.0.5", &header) == "10.0.0.9");
    std::string port = "198.51.100.2:5555";
    CHECK(proxies.clientOf("10.0.0.5", &port) == "10.0.0.5");
    std::string garbage = ",,,";
    CHECK(proxies.clientOf("10.0.0.5", &garbage) == "10.0.0.5");
}
