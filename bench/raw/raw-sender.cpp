// partyline-raw-sender: the fan-out floor of docs/PERFORMANCE.md, a WebSocket server with no NATS,
// no Lua and no rooms behind it (bench/raw/RawSender.h). Point partyline-bench at it as at a node:
// every POST .../broadcast goes to every open client as one pre-encoded text frame.
//
//   partyline-raw-sender [--listen HOST:PORT] [--max-clients N]
//
// It prints "listening on HOST:PORT (port N)" on stderr once it accepts, runs until SIGTERM or
// SIGINT, and then prints what it did (upgrades, broadcasts, frames written, refusals).
#include <signal.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "RawSender.h"

namespace {

using partyline::bench::RawSender;

constexpr const char* kUsage =
    "usage: partyline-raw-sender [--listen HOST:PORT] [--max-clients N]\n"
    "  --listen HOST:PORT  IPv4 address and port; port 0 lets the kernel pick (127.0.0.1:0)\n"
    "  --max-clients N     connections held at once; more are answered 503 (20000)\n";

RawSender* running = nullptr;

void onSignal(int) {
    if (running) running->stop();
}

template <typename T>
bool parseNumber(std::string_view text, T& out) {
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
    return ec == std::errc{} && end == text.data() + text.size();
}

}  // namespace

int main(int argc, char** argv) {
    std::string host = "127.0.0.1";
    uint16_t port = 0;
    partyline::bench::RawSenderLimits limits;
    for (int i = 1; i < argc; ++i) {
        std::string_view flag = argv[i];
        if (flag == "--help" || flag == "-h") {
            std::fputs(kUsage, stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "partyline-raw-sender: %s needs a value\n%s", argv[i], kUsage);
            return 2;
        }
        std::string_view value = argv[++i];
        if (flag == "--listen") {
            size_t colon = value.rfind(':');
            if (colon == std::string_view::npos || !parseNumber(value.substr(colon + 1), port)) {
                std::fprintf(stderr, "partyline-raw-sender: --listen wants HOST:PORT, not '%s'\n", argv[i]);
                return 2;
            }
            host = std::string(value.substr(0, colon));
        } else if (flag == "--max-clients") {
            if (!parseNumber(value, limits.maxClients) || limits.maxClients == 0) {
                std::fprintf(stderr,
                             "partyline-raw-sender: --max-clients wants a positive number, not '%s'\n",
                             argv[i]);
                return 2;
            }
        } else {
            std::fprintf(stderr, "partyline-raw-sender: unknown flag %s\n%s", argv[i - 1], kUsage);
            return 2;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    RawSender sender(limits);
    std::string error;
    uint16_t bound = sender.listen(host, port, error);
    if (bound == 0) {
        std::fprintf(stderr, "partyline-raw-sender: %s\n", error.c_str());
        return 2;
    }
    running = &sender;
    signal(SIGTERM, onSignal);
    signal(SIGINT, onSignal);
    std::fprintf(stderr, "partyline-raw-sender listening on %s:%u (port %u)\n", host.c_str(), bound, bound);
    std::fflush(stderr);
    sender.run();
    running = nullptr;
    const auto& n = sender.counts();
    std::fprintf(stderr,
                 "partyline-raw-sender: upgrades %" PRIu64 " broadcasts %" PRIu64 " frames %" PRIu64
                 " refused %" PRIu64 " dropped %" PRIu64 "\n",
                 n.upgrades.load(), n.broadcasts.load(), n.frames.load(), n.refused.load(), n.dropped.load());
    return 0;
}
