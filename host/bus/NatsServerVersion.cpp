#include "bus/NatsServerVersion.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <tuple>

#include "core/Json.h"

extern char** environ;

namespace partyline {
namespace {

constexpr auto kVersionTimeout = std::chrono::seconds(5);
// An INFO line is a few hundred bytes; a server's with many cluster URLs a few KiB.
constexpr size_t kMaxInfoBytes = 64 * 1024;

using Clock = std::chrono::steady_clock;

int remainingMs(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? int(left) : 0;
}

// Reads from `fd` until `done(text)` or EOF or the deadline; false on a timeout or an error.
template <class Done>
bool readUntil(int fd, std::string& text, Clock::time_point deadline, size_t maxBytes, Done done) {
    char buffer[4096];
    while (!done(text)) {
        pollfd p{fd, POLLIN, 0};
        int ready = ::poll(&p, 1, remainingMs(deadline));
        if (ready <= 0) return false;
        ssize_t n = ::read(fd, buffer, sizeof buffer);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return !text.empty() && n == 0;
        text.append(buffer, size_t(n));
        if (text.size() > maxBytes) return false;
    }
    return true;
}

bool executable(const std::string& path) {
    std::error_code ec;
    return std::filesystem::is_regular_file(path, ec) && ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

bool NatsServerVersion::atLeast(int wantMajor, int wantMinor, int wantPatch) const {
    return std::tie(major, minor, patch) >= std::tie(wantMajor, wantMinor, wantPatch);
}

bool NatsServerVersion::operator<(const NatsServerVersion& other) const {
    return std::tie(major, minor, patch) < std::tie(other.major, other.minor, other.patch);
}

std::optional<NatsServerVersion> parseNatsServerVersion(std::string_view text) {
    size_t start = text.find_first_of("0123456789");
    if (start == std::string_view::npos) return std::nullopt;
    text.remove_prefix(start);
    size_t end = text.find_first_of(" \t\r\n");
    if (end != std::string_view::npos) text = text.substr(0, end);
    NatsServerVersion version;
    version.text = std::string(text);
    int* parts[] = {&version.major, &version.minor, &version.patch};
    const char* p = text.data();
    const char* last = text.data() + text.size();
    for (int i = 0; i < 3; ++i) {
        auto [next, error] = std::from_chars(p, last, *parts[i]);
        if (error != std::errc() || next == p || *parts[i] < 0) return std::nullopt;
        p = next;
        if (i < 2) {
            if (p == last || *p != '.') return std::nullopt;
            ++p;
        }
    }
    // What follows the patch number is a pre-release or build tag ("-RC.1", "+abc"), or nothing.
    if (p != last && *p != '-' && *p != '+') return std::nullopt;
    return version;
}

Result<NatsServerVersion> versionOfBinary(const std::string& binary) {
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC) != 0)
        return Status(Code::Internal, "pipe: " + std::string(strerror(errno)));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, pipeFds[1], STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, pipeFds[1], STDERR_FILENO);
    std::string flag = "--version";
    char* argv[] = {const_cast<char*>(binary.c_str()), flag.data(), nullptr};
    pid_t child = -1;
    int rc = posix_spawn(&child, binary.c_str(), &actions, nullptr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    ::close(pipeFds[1]);
    if (rc != 0) {
        ::close(pipeFds[0]);
        return Status(Code::Unavailable, binary + ": cannot run: " + strerror(rc));
    }
    std::string output;
    bool read = readUntil(pipeFds[0], output, Clock::now() + kVersionTimeout, 4096,
                          [](const std::string& text) { return text.find('\n') != std::string::npos; });
    ::close(pipeFds[0]);
    if (!read) ::kill(child, SIGKILL);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (!read) return Status(Code::Timeout, binary + " --version gave no answer");
    auto version = parseNatsServerVersion(output);
    if (!version) return Status(Code::InvalidArgument, binary + " --version printed no version");
    return *version;
}

std::vector<std::string> natsServerCandidates() {
    std::vector<std::string> found;
    auto add = [&found](const std::string& path) {
        if (!executable(path)) return;
        for (const auto& seen : found)
            if (seen == path) return;
        found.push_back(path);
    };
    if (const char* chosen = std::getenv("NATS_SERVER_BIN"); chosen && *chosen) {
        add(chosen);
        return found;
    }
    std::error_code ec;
    auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        add((self.parent_path() / "tools/bin/nats-server").string());
        add((self.parent_path().parent_path() / "tools/bin/nats-server").string());
    }
    if (const char* path = std::getenv("PATH")) {
        std::stringstream in(path);
        for (std::string dir; std::getline(in, dir, ':');)
            if (!dir.empty()) add(dir + "/nats-server");
    }
    // Debian installs it in /usr/sbin, which is not on every user's PATH.
    for (const char* dir : {"/usr/sbin", "/usr/bin", "/usr/local/bin", "/usr/local/sbin"})
        add(std::string(dir) + "/nats-server");
    return found;
}

Result<NatsServerBinary> newestNatsServer() {
    std::optional<NatsServerBinary> best;
    std::string why;
    for (const auto& path : natsServerCandidates()) {
        auto version = versionOfBinary(path);
        if (!version) {
            why += (why.empty() ? "" : "; ") + version.status().message();
            continue;
        }
        if (!best || best->version < *version) best = NatsServerBinary{path, *version};
    }
    if (best) return *best;
    return Status(Code::NotFound,
                  "nats-server not found (NATS_SERVER_BIN, tools/bin beside partyline, PATH, "
                  "/usr/sbin, /usr/bin, /usr/local/bin)" +
                      (why.empty() ? std::string() : ": " + why));
}

Result<NatsServerVersion> versionFromInfo(std::string_view line) {
    if (!line.starts_with("INFO "))
        return Status(Code::InvalidArgument, "the server's first line is not INFO");
    line.remove_prefix(5);
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    auto info = parseJson(line);
    if (!info) return Status(Code::InvalidArgument, "INFO is not JSON: " + info.status().message());
    const JsonValue* field = info->find("version");
    const std::string* text = field ? field->asString() : nullptr;
    auto version = text ? parseNatsServerVersion(*text) : std::nullopt;
    if (!version) return Status(Code::InvalidArgument, "INFO names no version");
    return *version;
}

Result<NatsServerVersion> probeServerVersion(std::string_view url, std::chrono::milliseconds timeout) {
    std::string_view first = url.substr(0, url.find(','));
    if (size_t scheme = first.find("://"); scheme != std::string_view::npos) first.remove_prefix(scheme + 3);
    if (size_t at = first.rfind('@'); at != std::string_view::npos) first.remove_prefix(at + 1);
    std::string host(first), port = "4222";
    if (size_t slash = host.find('/'); slash != std::string::npos) host.resize(slash);
    if (!host.empty() && host.front() == '[') {
        size_t close = host.find(']');
        if (close == std::string::npos) return Status(Code::InvalidArgument, "bad NATS URL");
        if (close + 1 < host.size() && host[close + 1] == ':') port = host.substr(close + 2);
        host = host.substr(1, close - 1);
    } else if (size_t colon = host.rfind(':'); colon != std::string::npos) {
        port = host.substr(colon + 1);
        host.resize(colon);
    }
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* addresses = nullptr;
    if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &addresses); rc != 0)
        return Status(Code::Unavailable, "resolve " + host + ": " + gai_strerror(rc));
    const auto deadline = Clock::now() + timeout;
    Status last(Code::Unavailable, "no address for " + host);
    for (addrinfo* a = addresses; a; a = a->ai_next) {
        int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) continue;
        bool connected = ::connect(fd, a->ai_addr, a->ai_addrlen) == 0;
        if (!connected && errno == EINPROGRESS) {
            pollfd p{fd, POLLOUT, 0};
            int error = 0;
            socklen_t length = sizeof error;
            connected = ::poll(&p, 1, remainingMs(deadline)) == 1 &&
                        ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0 && error == 0;
        }
        std::string line;
        bool read = connected && readUntil(fd, line, deadline, kMaxInfoBytes, [](const std::string& text) {
                        return text.find('\n') != std::string::npos;
                    });
        ::close(fd);
        if (!connected) {
            last = Status(Code::Unavailable, "cannot connect to " + host + ":" + port);
            continue;
        }
        if (!read) {
            last = Status(Code::Timeout, "no INFO from " + host + ":" + port);
            continue;
        }
        ::freeaddrinfo(addresses);
        return versionFromInfo(line.substr(0, line.find('\n') + 1));
    }
    ::freeaddrinfo(addresses);
    return last;
}

}  // namespace partyline
