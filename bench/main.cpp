// partyline-bench: the command line. Runs the phases of one benchmark in order (connect, settle,
// write, drain, stop), each bounded in time, and prints what the threads measured.
#include <signal.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <functional>
#include <memory>
#include <random>
#include <thread>

#include "ClientLoop.h"
#include "Options.h"
#include "PostWriter.h"
#include "Probe.h"
#include "Report.h"
#include "RunState.h"

namespace {

using namespace partyline::bench;

constexpr double kProgressSeconds = 1.0;
constexpr double kHealthTimeoutSeconds = 5.0;
constexpr double kLastWriteGraceSeconds = 0.1;  // for the writes due in the last tick of the schedule

std::string newRunId() {
    std::random_device device;
    char text[9];
    std::snprintf(text, sizeof text, "%08x", unsigned(device()));
    return text;
}

// Sockets: one per client and HTTP connection, plus a few for epoll, the health check and stdio.
bool ensureFileLimit(const Options& o, std::string& error) {
    rlim_t needed = rlim_t(o.clients) + o.httpConnections + o.urls.size() + o.threads + 32;
    rlimit limit{};
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur >= needed) return true;
    if (limit.rlim_max >= needed) {
        limit.rlim_cur = needed;
        if (setrlimit(RLIMIT_NOFILE, &limit) == 0) return true;
    }
    error = "needs " + std::to_string(needed) + " open files but the limit is " +
            std::to_string(limit.rlim_max) + " (raise it with ulimit -n)";
    return false;
}

class Bench {
   public:
    Bench(const Options& options, std::vector<Endpoint> endpoints)
        : o_(options), run_(options, std::move(endpoints), newRunId()), live_(options.threads + 1) {
        for (auto& counters : live_) counters = std::make_unique<LiveCounters>();
        report_.runId = run_.runId;
    }

    Report execute() {
        start_ = monotonicNanos();
        if (o_.pid) report_.rssBeforeKib = readRssKib(o_.pid);
        for (uint32_t t = 0; t < o_.threads; ++t) {
            loops_.push_back(std::make_unique<ClientLoop>(run_, *live_[t], t));
            threads_.emplace_back([loop = loops_.back().get()] { loop->run(); });
        }
        waitUntil(seconds(o_.connectTimeoutSeconds),
                  [&] { return sum(&LiveCounters::opened) + sum(&LiveCounters::failed) >= o_.clients; });
        run_.setPhase(Phase::Hold);
        if (o_.mode == Mode::Post && o_.rate > 0) {
            writer_ = std::make_unique<PostWriter>(run_, *live_.back());
            threads_.emplace_back([writer = writer_.get()] { writer->run(); });
        }
        waitUntil(seconds(o_.settleSeconds), [] { return false; });
        if (o_.pid) report_.rssConnectedKib = readRssKib(o_.pid);
        if (!o_.healthPath.empty())
            for (const Endpoint& e : run_.endpoints)
                report_.health.emplace_back(e.url, getOnce(e, o_.healthPath, kHealthTimeoutSeconds));
        if (o_.rate > 0 && sum(&LiveCounters::opened) == 0) {
            std::fprintf(stderr, "partyline-bench: no client opened; nothing to write to\n");
        } else if (o_.rate > 0) {
            write();
        } else {
            waitUntil(seconds(o_.durationSeconds), [] { return false; });
        }
        if (o_.pid) report_.rssAfterKib = readRssKib(o_.pid);
        run_.setPhase(Phase::Stop);
        for (auto& thread : threads_) thread.join();
        std::vector<ClientLoop*> loops;
        for (auto& loop : loops_) loops.push_back(loop.get());
        addClientLoops(report_, run_, loops, writer_.get());
        return report_;
    }

   private:
    // CPU and context switches of the --cpu processes, summed by name, in the order first given.
    std::vector<Report::CpuUse> readUsage() const {
        std::vector<Report::CpuUse> out;
        for (const auto& [name, pid] : o_.cpuPids) {
            auto it = std::find_if(out.begin(), out.end(), [&](const auto& u) { return u.name == name; });
            if (it == out.end()) it = out.insert(out.end(), Report::CpuUse{name});
            if (auto usage = readProcessUsage(pid)) {
                it->cpuSeconds += usage->cpuSeconds;
                it->contextSwitches += usage->contextSwitches;
            } else {
                it->read = false;
            }
        }
        return out;
    }

    void write() {
        auto usageBefore = readUsage();
        run_.writeStartNanos.store(monotonicNanos(), std::memory_order_release);
        run_.setPhase(Phase::Write);
        waitUntil(seconds(o_.durationSeconds), [] { return false; });
        auto planned = uint64_t(std::llround(o_.rate * o_.durationSeconds));
        waitUntil(seconds(kLastWriteGraceSeconds), [&] { return sum(&LiveCounters::sent) >= planned; });
        run_.setPhase(Phase::Drain);
        // Answers still due, then the deliveries of every acknowledged write.
        waitUntil(seconds(o_.requestTimeoutSeconds), [&] { return sum(&LiveCounters::inFlight) == 0; });
        waitUntil(seconds(o_.drainSeconds),
                  [&] { return sum(&LiveCounters::delivered) >= expectedDeliveries(); });
        report_.cpu = readUsage();
        for (size_t i = 0; i < report_.cpu.size(); ++i) {
            report_.cpu[i].cpuSeconds -= usageBefore[i].cpuSeconds;
            report_.cpu[i].contextSwitches -= usageBefore[i].contextSwitches;
            report_.cpu[i].read = report_.cpu[i].read && usageBefore[i].read;
        }
    }

    uint64_t expectedDeliveries() const {
        uint64_t expected = 0;
        for (uint32_t r = 0; r < o_.rooms; ++r)
            expected += run_.expectedWritesPerRoom[r].load(std::memory_order_relaxed) *
                        run_.openedPerRoom[r].load(std::memory_order_relaxed);
        return expected;
    }

    uint64_t sum(std::atomic<uint64_t> LiveCounters::*field) const {
        uint64_t total = 0;
        for (const auto& counters : live_) total += ((*counters).*field).load(std::memory_order_relaxed);
        return total;
    }

    static uint64_t seconds(double s) { return uint64_t(s * 1e9); }

    // Polls `done` every few milliseconds for at most `nanos`, printing progress once a second.
    void waitUntil(uint64_t nanos, const std::function<bool()>& done) {
        uint64_t deadline = monotonicNanos() + nanos;
        while (!done()) {
            uint64_t now = monotonicNanos();
            if (now >= deadline) return;
            if (!o_.quiet && now >= nextProgress_) {
                printProgress(now);
                nextProgress_ = now + seconds(kProgressSeconds);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }

    void printProgress(uint64_t now) {
        static const char* const names[] = {"connect", "settle", "write", "drain", "stop"};
        std::fprintf(stderr,
                     "[%6.1fs] %-7s open %" PRIu64 " failed %" PRIu64 " | sent %" PRIu64 " acked %" PRIu64
                     " in flight %" PRIu64 " | delivered %" PRIu64 "\n",
                     double(now - start_) / 1e9, names[int(run_.phase())], sum(&LiveCounters::opened),
                     sum(&LiveCounters::failed), sum(&LiveCounters::sent), sum(&LiveCounters::acknowledged),
                     sum(&LiveCounters::inFlight), sum(&LiveCounters::delivered));
    }

    const Options& o_;
    RunState run_;
    std::vector<std::unique_ptr<LiveCounters>> live_;  // one per client thread, then the writer's
    std::vector<std::unique_ptr<ClientLoop>> loops_;
    std::unique_ptr<PostWriter> writer_;
    std::vector<std::thread> threads_;
    Report report_;
    uint64_t start_ = 0;
    uint64_t nextProgress_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    Options options;
    std::string error;
    switch (parseOptions(argc, argv, options, error)) {
        case ParseResult::Help:
            std::fputs(kHelpText, stdout);
            return 0;
        case ParseResult::Error:
            std::fprintf(stderr, "partyline-bench: %s\n", error.c_str());
            return 2;
        case ParseResult::Run:
            break;
    }
    std::vector<Endpoint> endpoints;
    for (const auto& url : options.urls) {
        auto endpoint = resolveEndpoint(url, error);
        if (!endpoint) {
            std::fprintf(stderr, "partyline-bench: %s\n", error.c_str());
            return 2;
        }
        endpoints.push_back(*endpoint);
    }
    if (!ensureFileLimit(options, error)) {
        std::fprintf(stderr, "partyline-bench: %s\n", error.c_str());
        return 2;
    }
    if (options.pid && !readRssKib(options.pid)) {
        std::fprintf(stderr, "partyline-bench: cannot read VmRSS of process %d\n", options.pid);
        return 2;
    }
    Bench bench(options, std::move(endpoints));
    Report report = bench.execute();
    if (options.json) {
        printSummary(stderr, options, report);
        std::printf("%s\n", toJson(options, report).c_str());
    } else {
        printSummary(stdout, options, report);
    }
    return report.clean() ? 0 : 1;
}
