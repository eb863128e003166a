// Report: the figures of one run, worked out from what every thread recorded, and their two
// printed forms (a short summary for people, one JSON object for scripts).
//
// Provides the loss accounting: for every client that was open when writing began, each write the
// ledger counts as expected (acknowledged POST, or frame sent) either reached it or is lost.
// Must not: run while any worker thread is still running (it reads their state without locks).
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ClientLoop.h"
#include "Options.h"
#include "Percentiles.h"
#include "PostWriter.h"
#include "Probe.h"
#include "RunState.h"

namespace partyline::bench {

struct Report {
    std::string runId;
    // Clients.
    uint64_t clientsOpen = 0, clientsFailed = 0, enveloped = 0;
    double connectSeconds = 0;  // first open to last open
    std::map<std::string, uint64_t> connectErrors;
    std::map<uint16_t, uint64_t> serverCloses;
    // Server.
    std::optional<uint64_t> rssBeforeKib, rssConnectedKib, rssAfterKib;
    std::vector<std::pair<std::string, HealthAnswer>> health;  // URL, answer
    // Writes.
    uint64_t planned = 0, sent = 0, acknowledged = 0, failed = 0, writesBehind = 0;
    double writeSeconds = 0;       // first write to last acknowledgement (post) or to the end of writing (ws)
    uint64_t maxSendLagNanos = 0;  // the worst delay between a write's scheduled time and its sending
    std::map<std::string, uint64_t> writeFailures;
    Percentiles ackLatency;
    // Deliveries.
    uint64_t expected = 0, delivered = 0, lost = 0, unexpected = 0, duplicates = 0, orderViolations = 0;
    uint64_t foreign = 0, misrouted = 0;
    double deliverySeconds = 0;  // first write to last delivery
    Percentiles latency;
    // --cpu: what each named process kind used from the start of writing to the end of the drain.
    struct CpuUse {
        std::string name;
        double cpuSeconds = 0;
        uint64_t contextSwitches = 0;
        bool read = true;  // false: a process of this name could not be read
    };
    std::vector<CpuUse> cpu;

    double rssPerConnectionKib() const;
    double acknowledgedPerSecond() const {
        return writeSeconds > 0 ? double(acknowledged) / writeSeconds : 0;
    }
    double deliveriesPerSecond() const {
        return deliverySeconds > 0 ? double(delivered + unexpected) / deliverySeconds : 0;
    }
    // Every client open, every expected delivery once and in order, no failed write.
    bool clean() const;
};

// Adds what the client threads and the writer recorded; call after they are joined.
void addClientLoops(Report& report, const RunState& run, std::vector<ClientLoop*> loops,
                    const PostWriter* writer);

void printSummary(std::FILE* out, const Options& options, const Report& report);
std::string toJson(const Options& options, const Report& report);

}  // namespace partyline::bench
