// NatsServerVersion: which nats-server a node runs against, and which binary to start.
//
// Provides the version as numbers (from `nats-server --version` or the "version" of the INFO a
// server sends to every new connection), the newest of several nats-server binaries (the
// embedded server and the tests start the newest one installed: the project's tools folder,
// PATH, Debian's /usr/sbin), and a probe that reads a running server's INFO. The node logs the
// version and uses a feature of a newer server only when the version says the server has it.
//
// Must not: start a server, or keep a connection open (the probe reads one line and closes).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/Status.h"

namespace partyline {

struct NatsServerVersion {
    int major = 0, minor = 0, patch = 0;
    std::string text;  // as the server wrote it, without a leading "v": "2.15.3", "2.11.0-RC.1"

    bool atLeast(int wantMajor, int wantMinor, int wantPatch = 0) const;
    // Ordered by number; a pre-release is not told apart from its release.
    bool operator<(const NatsServerVersion& other) const;
};

// "2.15.3", "v2.15.3", "nats-server: v2.9.10" (what --version prints), "2.11.0-RC.1"; nothing for
// text without three dot-separated numbers.
std::optional<NatsServerVersion> parseNatsServerVersion(std::string_view text);

// Runs `binary --version` (at most 5 s) and parses what it prints.
Result<NatsServerVersion> versionOfBinary(const std::string& binary);

// The nats-server binaries to choose from, in order: NATS_SERVER_BIN alone when it is set;
// else tools/bin/nats-server beside this executable and beside its folder (build/tools/bin for
// build/partyline and build/tests/unit_tests), then each folder of PATH, then /usr/sbin, /usr/bin,
// /usr/local/bin, /usr/local/sbin. Only executable files are listed, each path once.
std::vector<std::string> natsServerCandidates();

struct NatsServerBinary {
    std::string path;
    NatsServerVersion version;
};

// The newest of natsServerCandidates() (the first of equal versions). NotFound when there is none
// whose version can be read.
Result<NatsServerBinary> newestNatsServer();

// Connects to a nats:// URL's host and port (the first of a comma-separated list), reads the
// server's INFO line and returns its version. Timeout, Unavailable or InvalidArgument otherwise.
Result<NatsServerVersion> probeServerVersion(std::string_view url,
                                             std::chrono::milliseconds timeout = std::chrono::seconds(2));

// The version in an INFO line ("INFO {...}\r\n"), for the probe and its tests.
Result<NatsServerVersion> versionFromInfo(std::string_view line);

}  // namespace partyline
