#include "Probe.h"

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace partyline::bench {

std::optional<ProcessUsage> readProcessUsage(int pid) {
    if (pid == getpid()) {
        // This tool: getrusage also counts its threads that have ended since the last read,
        // which /proc/self/task no longer lists.
        rusage self{};
        if (getrusage(RUSAGE_SELF, &self) != 0) return std::nullopt;
        auto seconds = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
        return ProcessUsage{seconds(self.ru_utime) + seconds(self.ru_stime),
                            uint64_t(self.ru_nvcsw) + uint64_t(self.ru_nivcsw)};
    }
    const std::string base = "/proc/" + std::to_string(pid);
    std::ifstream stat(base + "/stat");
    std::string line;
    if (!std::getline(stat, line)) return std::nullopt;
    // Fields after the command, which is in parentheses and may hold spaces: state is field 3,
    // utime 14 and stime 15 (proc(5)).
    auto close = line.rfind(')');
    if (close == std::string::npos) return std::nullopt;
    std::istringstream rest(line.substr(close + 2));
    std::string field;
    uint64_t utime = 0, stime = 0;
    for (int n = 3; n <= 15 && rest >> field; ++n) {
        if (n == 14) utime = std::strtoull(field.c_str(), nullptr, 10);
        if (n == 15) stime = std::strtoull(field.c_str(), nullptr, 10);
    }
    ProcessUsage usage;
    usage.cpuSeconds = double(utime + stime) / double(sysconf(_SC_CLK_TCK));
    std::error_code ec;
    for (const auto& task : std::filesystem::directory_iterator(base + "/task", ec)) {
        std::ifstream status(task.path() / "status");
        while (std::getline(status, line)) {
            if (line.rfind("voluntary_ctxt_switches:", 0) != 0 &&
                line.rfind("nonvoluntary_ctxt_switches:", 0) != 0)
                continue;
            size_t digits = line.find_first_of("0123456789");
            if (digits != std::string::npos)
                usage.contextSwitches += std::strtoull(line.c_str() + digits, nullptr, 10);
        }
    }
    return usage;
}

std::optional<uint64_t> readRssKib(int pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) != 0) continue;
        size_t digits = line.find_first_of("0123456789");
        uint64_t kib = 0;
        if (digits != std::string::npos &&
            std::from_chars(line.data() + digits, line.data() + line.size(), kib).ec == std::errc())
            return kib;
    }
    return std::nullopt;
}

namespace {

// Waits for `events` on fd until the deadline; false on timeout.
bool waitFor(int fd, short events, uint64_t deadlineNanos) {
    for (;;) {
        uint64_t now = monotonicNanos();
        if (now >= deadlineNanos) return false;
        pollfd p{fd, events, 0};
        int rc = poll(&p, 1, int((deadlineNanos - now) / 1000000) + 1);
        if (rc > 0) return true;
        if (rc < 0 && errno != EINTR) return false;
    }
}

}  // namespace

HealthAnswer getOnce(const Endpoint& endpoint, const std::string& path, double timeoutSeconds) {
    HealthAnswer answer;
    uint64_t start = monotonicNanos();
    uint64_t deadline = start + uint64_t(timeoutSeconds * 1e9);
    int fd = startConnect(endpoint);
    if (fd < 0) {
        answer.error = std::string("connect: ") + strerror(errno);
        return answer;
    }
    if (waitFor(fd, POLLOUT, deadline)) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) {
            close(fd);
            answer.error = std::string("connect: ") + strerror(error);
            answer.millis = double(monotonicNanos() - start) / 1e6;
            return answer;
        }
    }
    std::string request =
        "GET " + path + " HTTP/1.1\r\nHost: " + endpoint.hostHeader + "\r\nConnection: close\r\n\r\n";
    size_t sent = 0;
    std::string in;
    while (sent < request.size()) {
        if (!waitFor(fd, POLLOUT, deadline)) break;
        ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN) break;
        if (n > 0) sent += size_t(n);
    }
    char buffer[4096];
    while (sent == request.size() && in.find("\r\n") == std::string::npos && waitFor(fd, POLLIN, deadline)) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EAGAIN) continue;
        if (n <= 0) break;
        in.append(buffer, size_t(n));
    }
    close(fd);
    answer.millis = double(monotonicNanos() - start) / 1e6;
    if (in.size() >= 12 && in.rfind("HTTP/1.", 0) == 0) {
        std::from_chars(in.data() + 9, in.data() + 12, answer.status);
    } else {
        answer.error = sent < request.size() ? "could not send the request" : "no answer in time";
    }
    return answer;
}

}  // namespace partyline::bench
