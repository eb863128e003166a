// Probe: looks at the server from outside while clients hold it busy.
//
// Provides the resident set size of a process (VmRSS from /proc/PID/status), its CPU time and
// context switches (all its threads), and one timed HTTP GET (the health check that must keep
// answering under load).
// Must not: wait longer than its timeout, or change anything on the server.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "Endpoint.h"

namespace partyline::bench {

// VmRSS of `pid` in KiB, or nothing when the process or the field cannot be read.
std::optional<uint64_t> readRssKib(int pid);

// What a process has used so far: user + system CPU seconds (/proc/PID/stat) and the voluntary
// and involuntary context switches of all its threads (/proc/PID/task/*/status: each one a
// thread put to sleep or preempted, so mostly hand-offs between threads).
struct ProcessUsage {
    double cpuSeconds = 0;
    uint64_t contextSwitches = 0;
};
std::optional<ProcessUsage> readProcessUsage(int pid);

struct HealthAnswer {
    int status = 0;  // 0 when no answer
    double millis = 0;
    std::string error;
};

HealthAnswer getOnce(const Endpoint& endpoint, const std::string& path, double timeoutSeconds);

}  // namespace partyline::bench
