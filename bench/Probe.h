// Probe: looks at the server from outside while clients hold it busy.
//
// Provides the resident set size of a process (VmRSS from /proc/PID/status) and one timed
// HTTP GET (the health check that must keep answering under load).
// Must not: wait longer than its timeout, or change anything on the server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "Endpoint.h"

namespace partyline::bench {

// VmRSS of `pid` in KiB, or nothing when the process or the field cannot be read.
std::optional<uint64_t> readRssKib(int pid);

struct HealthAnswer {
    int status = 0;  // 0 when no answer
    double millis = 0;
    std::string error;
};

HealthAnswer getOnce(const Endpoint& endpoint, const std::string& path, double timeoutSeconds);

}  // namespace partyline::bench
