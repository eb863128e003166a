#include "Report.h"

#include <bit>
#include <cinttypes>
#include <unordered_map>

namespace partyline::bench {

namespace {

double ms(uint64_t nanos) {
    return double(nanos) / 1e6;
}

uint64_t countBoth(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
    uint64_t n = 0;
    for (size_t i = 0; i < a.size() && i < b.size(); ++i) n += uint64_t(std::popcount(a[i] & b[i]));
    return n;
}

uint64_t countAll(const std::vector<uint64_t>& bits) {
    uint64_t n = 0;
    for (uint64_t word : bits) n += uint64_t(std::popcount(word));
    return n;
}

template <typename K>
void addAll(std::map<K, uint64_t>& into, const std::map<K, uint64_t>& from) {
    for (const auto& [key, n] : from) into[key] += n;
}

// Expected deliveries and losses of one client against the ledger of its room.
void accountClient(Report& report, const Client& client,
                   const std::vector<std::pair<uint32_t, const std::vector<uint64_t>*>>& roomLedger) {
    uint64_t received = 0;
    for (const StreamSeen& stream : client.streams) received += countAll(stream.bits);
    uint64_t expectedReceived = 0;
    for (const auto& [writer, bits] : roomLedger) {
        uint64_t expected = countAll(*bits);
        uint64_t got = writer < client.streams.size() ? countBoth(*bits, client.streams[writer].bits) : 0;
        report.expected += expected;
        report.delivered += got;
        report.lost += expected - got;
        expectedReceived += got;
    }
    report.unexpected += received - expectedReceived;
}

}  // namespace

double Report::rssPerConnectionKib() const {
    if (!rssBeforeKib || !rssConnectedKib || clientsOpen == 0) return 0;
    return (double(*rssConnectedKib) - double(*rssBeforeKib)) / double(clientsOpen);
}

bool Report::clean() const {
    return clientsFailed == 0 && lost == 0 && duplicates == 0 && orderViolations == 0 && failed == 0 &&
           misrouted == 0 && writesBehind == 0 && serverCloses.empty();
}

void addClientLoops(Report& report, const RunState& run, std::vector<ClientLoop*> loops,
                    const PostWriter* writer) {
    WriteLedger ledger;
    uint64_t firstOpen = 0, lastOpen = 0, lastDelivery = 0, firstWrite = 0;
    for (ClientLoop* loop : loops) {
        ClientLoopResult& r = loop->result();
        ledger.merge(r.ledger);
        report.latency.merge(r.latency);
        report.duplicates += r.duplicates;
        report.orderViolations += r.orderViolations;
        report.foreign += r.foreign;
        report.misrouted += r.misrouted;
        report.enveloped += r.enveloped;
        if (run.options.mode == Mode::Ws) report.planned += r.planned;
        report.maxSendLagNanos = std::max(report.maxSendLagNanos, r.maxSendLagNanos);
        addAll(report.connectErrors, r.connectErrors);
        addAll(report.serverCloses, r.serverCloses);
        if (r.firstOpenNanos && (!firstOpen || r.firstOpenNanos < firstOpen)) firstOpen = r.firstOpenNanos;
        lastOpen = std::max(lastOpen, r.lastOpenNanos);
        lastDelivery = std::max(lastDelivery, r.lastDeliveryNanos);
    }
    if (writer) {
        const PostWriterResult& w = writer->result();
        ledger.merge(w.ledger);
        report.planned = w.planned;
        report.sent = w.sent;
        report.acknowledged = w.acknowledged;
        report.failed = w.failed;
        report.writeFailures = w.failures;
        report.ackLatency.merge(w.ackLatency);
        report.maxSendLagNanos = std::max(report.maxSendLagNanos, w.maxSendLagNanos);
        firstWrite = w.firstSendNanos;
        if (w.lastAckNanos > firstWrite) report.writeSeconds = double(w.lastAckNanos - firstWrite) / 1e9;
    } else {
        ledger.forEach(
            [&](uint32_t, uint32_t, const std::vector<uint64_t>& bits) { report.sent += countAll(bits); });
        report.acknowledged = report.sent;
        report.writeSeconds = run.options.durationSeconds;
    }
    report.writesBehind = report.planned - std::min(report.planned, report.sent);
    if (!firstWrite) firstWrite = run.writeStartNanos.load();
    if (firstOpen) report.connectSeconds = double(lastOpen - firstOpen) / 1e9;
    if (firstWrite && lastDelivery > firstWrite)
        report.deliverySeconds = double(lastDelivery - firstWrite) / 1e9;

    std::unordered_map<uint32_t, std::vector<std::pair<uint32_t, const std::vector<uint64_t>*>>> byRoom;
    ledger.forEach([&](uint32_t room, uint32_t w, const std::vector<uint64_t>& bits) {
        byRoom[room].push_back({w, &bits});
    });
    static const std::vector<std::pair<uint32_t, const std::vector<uint64_t>*>> none;
    for (ClientLoop* loop : loops) {
        for (const Client& client : loop->clients()) {
            if (client.state == Client::State::Open || client.state == Client::State::Closed)
                ++report.clientsOpen;
            if (client.state == Client::State::Failed) ++report.clientsFailed;
            if (!client.openAtWriteStart) continue;
            auto it = byRoom.find(client.room);
            accountClient(report, client, it == byRoom.end() ? none : it->second);
        }
    }
}

void printSummary(std::FILE* out, const Options& o, const Report& r) {
    std::fprintf(
        out,
        "partyline-bench: %s mode, %u clients in %u room%s on %zu node%s, %g writes/s for %g s (run %s)\n",
        o.mode == Mode::Post ? "post" : "ws", o.clients, o.rooms, o.rooms == 1 ? "" : "s", o.urls.size(),
        o.urls.size() == 1 ? "" : "s", o.rate, o.durationSeconds, r.runId.c_str());
    std::fprintf(out,
                 "clients    %" PRIu64 " open (%" PRIu64 " with partyline.v1), %" PRIu64
                 " failed, opened in %.2f s\n",
                 r.clientsOpen, r.enveloped, r.clientsFailed, r.connectSeconds);
    for (const auto& [why, n] : r.connectErrors)
        std::fprintf(out, "           %" PRIu64 " x %s\n", n, why.c_str());
    for (const auto& [code, n] : r.serverCloses)
        std::fprintf(out, "           %" PRIu64 " closed by the server during the run, code %u\n", n, code);
    if (r.rssBeforeKib && r.rssConnectedKib) {
        std::fprintf(
            out, "server     RSS %.1f MiB before, %.1f MiB with the clients open: %.1f KiB per connection",
            double(*r.rssBeforeKib) / 1024, double(*r.rssConnectedKib) / 1024, r.rssPerConnectionKib());
        if (r.rssAfterKib) std::fprintf(out, "; %.1f MiB at the end", double(*r.rssAfterKib) / 1024);
        std::fprintf(out, "\n");
    }
    for (const auto& [url, h] : r.health) {
        if (h.status)
            std::fprintf(out, "health     %s%s: %d in %.1f ms\n", url.c_str(), o.healthPath.c_str(), h.status,
                         h.millis);
        else
            std::fprintf(out, "health     %s%s: %s after %.1f ms\n", url.c_str(), o.healthPath.c_str(),
                         h.error.c_str(), h.millis);
    }
    if (o.rate > 0) {
        std::fprintf(
            out, "writes     %" PRIu64 " planned, %" PRIu64 " sent, %" PRIu64 " %s, %" PRIu64 " failed",
            r.planned, r.sent, r.acknowledged, o.mode == Mode::Post ? "acknowledged" : "counted", r.failed);
        if (r.writesBehind) std::fprintf(out, ", %" PRIu64 " not sent in time", r.writesBehind);
        std::fprintf(out, "; %.0f/s; at most %.1f ms behind schedule\n", r.acknowledgedPerSecond(),
                     ms(r.maxSendLagNanos));
        for (const auto& [why, n] : r.writeFailures)
            std::fprintf(out, "           %" PRIu64 " x %s\n", n, why.c_str());
        if (r.ackLatency.count())
            std::fprintf(out, "ack        p50 %.3f ms  p99 %.3f ms  max %.3f ms (POST sent -> answer)\n",
                         ms(r.ackLatency.percentile(0.5)), ms(r.ackLatency.percentile(0.99)),
                         ms(r.ackLatency.max()));
        std::fprintf(out,
                     "delivered  %" PRIu64 " of %" PRIu64 " expected: lost %" PRIu64 ", duplicates %" PRIu64
                     ", order violations %" PRIu64 ", unexpected %" PRIu64 ", foreign %" PRIu64 "\n",
                     r.delivered, r.expected, r.lost, r.duplicates, r.orderViolations, r.unexpected,
                     r.foreign);
        std::fprintf(out, "rate       %.0f deliveries/s over %.2f s (first write -> last delivery)\n",
                     r.deliveriesPerSecond(), r.deliverySeconds);
        std::fprintf(
            out, "latency    p50 %.3f ms  p99 %.3f ms  max %.3f ms (send -> receive, %" PRIu64 " samples)\n",
            ms(r.latency.percentile(0.5)), ms(r.latency.percentile(0.99)), ms(r.latency.max()),
            r.latency.count());
        // Per delivery: every write each client received; per write: every frame or POST sent.
        const double deliveries = double(r.delivered + r.unexpected), writes = double(r.sent);
        double total = 0;
        for (const auto& use : r.cpu) {
            if (!use.read) {
                std::fprintf(out, "cpu        %s: could not be read\n", use.name.c_str());
                continue;
            }
            total += use.cpuSeconds;
            std::fprintf(
                out,
                "cpu        %s: %.2f CPU-s, %.1f CPU-s per million deliveries, %.1f context switches "
                "per write\n",
                use.name.c_str(), use.cpuSeconds, deliveries > 0 ? use.cpuSeconds * 1e6 / deliveries : 0,
                writes > 0 ? double(use.contextSwitches) / writes : 0);
        }
        if (r.cpu.size() > 1)
            std::fprintf(out, "cpu        all: %.2f CPU-s, %.1f CPU-s per million deliveries\n", total,
                         deliveries > 0 ? total * 1e6 / deliveries : 0);
    }
    std::fprintf(out, "result     %s\n", r.clean() ? "OK" : "NOT CLEAN (see above)");
}

namespace {

std::string quote(std::string_view text) {
    std::string out = "\"";
    for (unsigned char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += char(c);
        } else if (c < 0x20) {
            char escaped[8];
            std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out += escaped;
        } else {
            out += char(c);
        }
    }
    return out + "\"";
}

std::string number(double value) {
    char text[64];
    std::snprintf(text, sizeof text, "%.6g", value);
    return text;
}

std::string latencyJson(const Percentiles& h) {
    return "{\"samples\":" + std::to_string(h.count()) + ",\"p50\":" + number(ms(h.percentile(0.5))) +
           ",\"p99\":" + number(ms(h.percentile(0.99))) + ",\"max\":" + number(ms(h.max())) + "}";
}

template <typename K>
std::string countsJson(const std::map<K, uint64_t>& counts) {
    std::string out = "{";
    for (const auto& [key, n] : counts) {
        if (out.size() > 1) out += ",";
        if constexpr (std::is_same_v<K, std::string>)
            out += quote(key);
        else
            out += quote(std::to_string(key));
        out += ":" + std::to_string(n);
    }
    return out + "}";
}

std::string optionalKib(const std::optional<uint64_t>& kib) {
    return kib ? std::to_string(*kib) : "null";
}

}  // namespace

std::string toJson(const Options& o, const Report& r) {
    std::string urls = "[";
    for (const auto& url : o.urls) urls += (urls.size() > 1 ? "," : "") + quote(url);
    urls += "]";
    std::string health = "[";
    for (const auto& [url, h] : r.health) {
        health += (health.size() > 1 ? "," : "") + std::string("{\"url\":") + quote(url) +
                  ",\"status\":" + std::to_string(h.status) + ",\"ms\":" + number(h.millis) +
                  (h.error.empty() ? "" : ",\"error\":" + quote(h.error)) + "}";
    }
    health += "]";
    std::string j = "{";
    j += "\"tool\":\"partyline-bench\",\"run\":" + quote(r.runId);
    j += ",\"config\":{\"mode\":" + quote(o.mode == Mode::Post ? "post" : "ws") + ",\"urls\":" + urls +
         ",\"party\":" + quote(o.party) + ",\"rooms\":" + std::to_string(o.rooms) +
         ",\"clients\":" + std::to_string(o.clients) + ",\"rate\":" + number(o.rate) +
         ",\"duration_s\":" + number(o.durationSeconds) + ",\"size\":" + std::to_string(o.size) +
         ",\"http_conns\":" + std::to_string(o.httpConnections) +
         ",\"writers\":" + std::to_string(o.writers) + ",\"threads\":" + std::to_string(o.threads) +
         ",\"subprotocol\":" + (o.subprotocol ? "true" : "false") + "}";
    j += ",\"clients\":{\"open\":" + std::to_string(r.clientsOpen) +
         ",\"failed\":" + std::to_string(r.clientsFailed) +
         ",\"partyline_v1\":" + std::to_string(r.enveloped) + ",\"connect_s\":" + number(r.connectSeconds) +
         ",\"errors\":" + countsJson(r.connectErrors) + ",\"server_closes\":" + countsJson(r.serverCloses) +
         "}";
    j += ",\"rss_kib\":{\"before\":" + optionalKib(r.rssBeforeKib) +
         ",\"connected\":" + optionalKib(r.rssConnectedKib) + ",\"after\":" + optionalKib(r.rssAfterKib) +
         ",\"per_connection\":" + number(r.rssPerConnectionKib()) + "}";
    j += ",\"health\":" + health;
    j += ",\"writes\":{\"planned\":" + std::to_string(r.planned) + ",\"sent\":" + std::to_string(r.sent) +
         ",\"acknowledged\":" + std::to_string(r.acknowledged) + ",\"failed\":" + std::to_string(r.failed) +
         ",\"behind\":" + std::to_string(r.writesBehind) +
         ",\"acknowledged_per_second\":" + number(r.acknowledgedPerSecond()) +
         ",\"max_send_lag_ms\":" + number(ms(r.maxSendLagNanos)) +
         ",\"failures\":" + countsJson(r.writeFailures) + ",\"ack_latency_ms\":" + latencyJson(r.ackLatency) +
         "}";
    j += ",\"deliveries\":{\"expected\":" + std::to_string(r.expected) +
         ",\"delivered\":" + std::to_string(r.delivered) + ",\"lost\":" + std::to_string(r.lost) +
         ",\"duplicates\":" + std::to_string(r.duplicates) +
         ",\"order_violations\":" + std::to_string(r.orderViolations) +
         ",\"unexpected\":" + std::to_string(r.unexpected) + ",\"foreign\":" + std::to_string(r.foreign) +
         ",\"misrouted\":" + std::to_string(r.misrouted) +
         ",\"per_second\":" + number(r.deliveriesPerSecond()) + ",\"seconds\":" + number(r.deliverySeconds) +
         ",\"latency_ms\":" + latencyJson(r.latency) + "}";
    std::string cpu = "[";
    for (const auto& use : r.cpu) {
        if (cpu.size() > 1) cpu += ",";
        cpu += "{\"name\":" + quote(use.name) + ",\"read\":" + (use.read ? "true" : "false") +
               ",\"cpu_s\":" + number(use.cpuSeconds) +
               ",\"context_switches\":" + std::to_string(use.contextSwitches) + "}";
    }
    j += ",\"cpu\":" + cpu + "]";
    j += ",\"clean\":" + std::string(r.clean() ? "true" : "false") + "}";
    return j;
}

}  // namespace partyline::bench
