// partyline-fetch-bench: fetches per second and in flight of the node's Fetcher (net/Fetcher)
// against a local backend that answers every request after a fixed delay (docs/PERFORMANCE.md).
//
// The backend is one epoll thread in this process on 127.0.0.1 port 0, keep-alive, answering
// each request `--delay-ms` after it arrived. The driver keeps `--concurrency` calls in flight
// (each answer starts the next call, from the Fetcher's thread) until `--calls` have answered,
// and samples the Fetcher's in-flight count and this process's thread count while it runs.
//
//   partyline-fetch-bench [--calls N] [--concurrency C] [--delay-ms D] [--body-bytes B]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/Fetcher.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace partyline;
using namespace partyline::net;

struct Options {
    size_t calls = 20000;
    size_t concurrency = 1000;  // the Fetcher's default max_in_flight
    int delayMs = 50;           // a backend that does some work per request
    size_t bodyBytes = 100;     // a small JSON answer
};

// One epoll thread answering every request a fixed delay after it arrived. With one delay for
// all, answers fall due in arrival order, so a FIFO is the timer queue.
class DelayedBackend {
   public:
    DelayedBackend(std::chrono::milliseconds delay, size_t bodyBytes) : delay_(delay) {
        response_ = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                    std::to_string(bodyBytes) + "\r\n\r\n" + std::string(bodyBytes, 'x');
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(listener_, 4096);
        socklen_t len = sizeof addr;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        epoll_ = epoll_create1(EPOLL_CLOEXEC);
        wake_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        add(listener_);
        add(wake_);
        thread_ = std::thread([this] { run(); });
    }
    ~DelayedBackend() {
        stopping_ = true;
        uint64_t one = 1;
        (void)!::write(wake_, &one, sizeof one);
        thread_.join();
        for (auto& [fd, c] : connections_) ::close(fd);
        ::close(listener_);
        ::close(wake_);
        ::close(epoll_);
    }
    uint16_t port() const { return port_; }
    // Connections accepted: fewer than calls when the Fetcher keeps them alive.
    size_t accepted() const { return accepted_.load(); }

   private:
    struct Connection {
        std::string in;
        uint64_t generation = 0;
    };
    struct Due {
        Clock::time_point at;
        int fd;
        uint64_t generation;
    };

    void add(int fd) {
        epoll_event event{};
        event.events = EPOLLIN;
        event.data.fd = fd;
        epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &event);
    }

    void run() {
        epoll_event events[256];
        uint64_t generation = 0;
        while (!stopping_) {
            int timeout = 100;
            if (!due_.empty()) {
                auto left =
                    std::chrono::duration_cast<std::chrono::milliseconds>(due_.front().at - Clock::now());
                timeout = int(std::clamp<int64_t>(left.count() + 1, 0, 100));
            }
            int n = epoll_wait(epoll_, events, 256, timeout);
            for (int i = 0; i < n; ++i) {
                int fd = events[i].data.fd;
                if (fd == wake_) continue;
                if (fd == listener_) {
                    int client;
                    while ((client = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >=
                           0) {
                        int one = 1;
                        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                        connections_[client].generation = ++generation;
                        ++accepted_;
                        add(client);
                    }
                    continue;
                }
                readFrom(fd);
            }
            answerDue();
        }
    }

    void readFrom(int fd) {
        auto& c = connections_[fd];
        char buffer[16384];
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) {
            ::close(fd);
            connections_.erase(fd);
            return;
        }
        c.in.append(buffer, size_t(n));
        size_t end;
        while ((end = c.in.find("\r\n\r\n")) != std::string::npos) {  // GETs: no body
            c.in.erase(0, end + 4);
            due_.push_back({Clock::now() + delay_, fd, c.generation});
        }
    }

    void answerDue() {
        auto now = Clock::now();
        while (!due_.empty() && due_.front().at <= now) {
            Due d = due_.front();
            due_.pop_front();
            auto it = connections_.find(d.fd);
            if (it == connections_.end() || it->second.generation != d.generation) continue;
            (void)!::send(d.fd, response_.data(), response_.size(), MSG_NOSIGNAL);  // small: fits the buffer
        }
    }

    std::chrono::milliseconds delay_;
    std::string response_;
    int listener_ = -1;
    int epoll_ = -1;
    int wake_ = -1;
    uint16_t port_ = 0;
    std::atomic<bool> stopping_{false};
    std::atomic<size_t> accepted_{0};
    std::unordered_map<int, Connection> connections_;  // backend thread only
    std::deque<Due> due_;
    std::thread thread_;
};

int threadCount() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Threads:", 0) == 0) return std::atoi(line.c_str() + 8);
    }
    return 0;
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (i + 1 >= argc) return false;
        long value = std::atol(argv[++i]);
        if (value <= 0) return false;
        if (arg == "--calls")
            o.calls = size_t(value);
        else if (arg == "--concurrency")
            o.concurrency = size_t(value);
        else if (arg == "--delay-ms")
            o.delayMs = int(value);
        else if (arg == "--body-bytes")
            o.bodyBytes = size_t(value);
        else
            return false;
    }
    return true;
}

struct Run {
    std::atomic<size_t> started{0};
    std::atomic<size_t> answered{0};
    std::atomic<size_t> failed{0};
    std::mutex mutex;
    std::condition_variable finished;
    std::string firstError;
};

void startOne(Fetcher& fetcher, const std::string& url, size_t calls, Run& run) {
    if (run.started.fetch_add(1) >= calls) return;
    FetchRequest request;
    request.url = url;
    fetcher.fetch(std::move(request), [&fetcher, &url, calls, &run](Result<FetchResponse> result) {
        if (!result.isOk() || result->status != 200) {
            std::lock_guard lock(run.mutex);
            if (run.failed.fetch_add(1) == 0)
                run.firstError =
                    result.isOk() ? "status " + std::to_string(result->status) : result.status().message();
        }
        if (run.answered.fetch_add(1) + 1 == calls) {
            std::lock_guard lock(run.mutex);
            run.finished.notify_all();
        }
        startOne(fetcher, url, calls, run);
    });
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (!parse(argc, argv, o)) {
        std::fprintf(
            stderr,
            "usage: partyline-fetch-bench [--calls N] [--concurrency C] [--delay-ms D] [--body-bytes B]\n");
        return 2;
    }
    DelayedBackend backend(std::chrono::milliseconds(o.delayMs), o.bodyBytes);
    const std::string url = "http://127.0.0.1:" + std::to_string(backend.port()) + "/state";
    Run run;  // before the Fetcher: its callbacks use both
    FetchLimits limits;
    limits.allow = {"127.0.0.1:" + std::to_string(backend.port())};
    limits.max_in_flight = o.concurrency;
    Fetcher fetcher(limits);

    size_t peakInFlight = 0;
    int peakThreads = 0;
    auto start = Clock::now();
    for (size_t i = 0; i < o.concurrency; ++i) startOne(fetcher, url, o.calls, run);
    {
        std::unique_lock lock(run.mutex);
        while (!run.finished.wait_for(lock, std::chrono::milliseconds(10),
                                      [&] { return run.answered >= o.calls; })) {
            peakInFlight = std::max(peakInFlight, fetcher.inFlight());
            peakThreads = std::max(peakThreads, threadCount());
        }
    }
    double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::printf("calls=%zu concurrency=%zu delay_ms=%d body_bytes=%zu\n", o.calls, o.concurrency, o.delayMs,
                o.bodyBytes);
    std::printf("seconds=%.3f fetches_per_second=%.0f ideal_per_second=%.0f\n", seconds,
                double(o.calls) / seconds, double(o.concurrency) * 1000.0 / o.delayMs);
    std::printf("peak_in_flight=%zu peak_threads=%d connections=%zu failed=%zu%s%s\n", peakInFlight,
                peakThreads, backend.accepted(), run.failed.load(), run.failed ? " first_error=" : "",
                run.firstError.c_str());
    return run.failed ? 1 : 0;
}
