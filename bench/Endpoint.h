// Endpoint: one node the benchmark talks to, from its URL, and the non-blocking connect to it.
//
// Provides parsing of http://HOST:PORT and ws://HOST:PORT (a trailing "/" allowed, no other
// path: paths come from the --ws-path and --post-path templates), resolution to one address, and
// a TCP connect that returns at once.
// Must not: block on the network (resolution happens once, before any connection is opened).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace partyline::bench {

struct Endpoint {
    std::string url;         // as given
    std::string hostHeader;  // HOST:PORT for the Host header
    sockaddr_storage address{};
    socklen_t addressLength = 0;
};

// Parses and resolves; on failure returns nothing and says why in `error`.
std::optional<Endpoint> resolveEndpoint(std::string_view url, std::string& error);

// A non-blocking TCP socket whose connect has started (or finished); -1 with errno set on failure.
// TCP_NODELAY is on: every benchmark message is small and latency is what is measured.
// `source` > 0: bind first to loopback address 127.0.1.1 + (source - 1) (127.0.1.1, 127.0.1.2,
// ... 127.0.2.0, ...), the port chosen at connect time (IP_BIND_ADDRESS_NO_PORT), so each source
// address has its own ephemeral ports towards the node.
int startConnect(const Endpoint& endpoint, uint32_t source = 0);

// CLOCK_MONOTONIC in nanoseconds: the one clock every timestamp of a run uses.
uint64_t monotonicNanos();

}  // namespace partyline::bench
