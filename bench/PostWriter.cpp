#include "PostWriter.h"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>

#include "Payload.h"

namespace partyline::bench {

namespace {

constexpr uint64_t kReconnectDelayNanos = 50'000'000;  // a refused connect is not retried in a busy loop
constexpr int kMaxEvents = 256;
constexpr size_t kMaxAnswerBytes = 1 << 20;  // a broadcast answer is {"seq":N} or {"seqs":[...]}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(x) == std::tolower(y);
           });
}

struct Answer {
    int status = 0;
    bool keepAlive = true;
    size_t bytes = 0;  // the whole answer, head and body
};

enum class Parse { Incomplete, Complete, Malformed };

// The end of a chunked body starting at `at`, or npos while incomplete; `bad` when malformed.
size_t chunkedEnd(std::string_view in, size_t at, bool& bad) {
    for (;;) {
        size_t line = in.find("\r\n", at);
        if (line == std::string_view::npos) return std::string_view::npos;
        size_t size = 0;
        auto [end, error] = std::from_chars(in.data() + at, in.data() + line, size, 16);
        if (error != std::errc() || end == in.data() + at) {
            bad = true;
            return std::string_view::npos;
        }
        at = line + 2;
        if (size == 0) break;
        if (in.size() < at + size + 2) return std::string_view::npos;
        at += size + 2;
    }
    for (;;) {  // trailers, then the empty line
        size_t line = in.find("\r\n", at);
        if (line == std::string_view::npos) return std::string_view::npos;
        if (line == at) return at + 2;
        at = line + 2;
    }
}

Parse parseAnswer(std::string_view in, Answer& answer) {
    size_t headEnd = in.find("\r\n\r\n");
    if (headEnd == std::string_view::npos)
        return in.size() > kMaxAnswerBytes ? Parse::Malformed : Parse::Incomplete;
    if (in.substr(0, 9) != "HTTP/1.1 " && in.substr(0, 9) != "HTTP/1.0 ") return Parse::Malformed;
    auto [end, error] =
        std::from_chars(in.data() + 9, in.data() + std::min(in.size(), size_t(12)), answer.status);
    if (error != std::errc()) return Parse::Malformed;
    answer.keepAlive = in.substr(0, 9) == "HTTP/1.1 ";
    size_t contentLength = 0;
    bool chunked = false, lengthKnown = false;
    for (size_t at = in.find("\r\n") + 2; at < headEnd;) {
        size_t lineEnd = in.find("\r\n", at);
        std::string_view line = in.substr(at, lineEnd - at);
        at = lineEnd + 2;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        std::string_view name = line.substr(0, colon), value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (equalsIgnoringCase(name, "content-length")) {
            lengthKnown =
                std::from_chars(value.data(), value.data() + value.size(), contentLength).ec == std::errc();
        } else if (equalsIgnoringCase(name, "transfer-encoding")) {
            chunked = equalsIgnoringCase(value, "chunked");
        } else if (equalsIgnoringCase(name, "connection")) {
            if (equalsIgnoringCase(value, "close")) answer.keepAlive = false;
            if (equalsIgnoringCase(value, "keep-alive")) answer.keepAlive = true;
        }
    }
    size_t bodyAt = headEnd + 4;
    if (chunked) {
        bool bad = false;
        size_t endAt = chunkedEnd(in, bodyAt, bad);
        if (bad) return Parse::Malformed;
        if (endAt == std::string_view::npos) return Parse::Incomplete;
        answer.bytes = endAt;
        return Parse::Complete;
    }
    if (!lengthKnown) {
        if (answer.status == 204 || answer.status == 304)
            contentLength = 0;
        else
            return Parse::Malformed;  // a body up to the close cannot be told from the next answer
    }
    if (in.size() < bodyAt + contentLength) return Parse::Incomplete;
    answer.bytes = bodyAt + contentLength;
    return Parse::Complete;
}

}  // namespace

PostWriter::PostWriter(RunState& run, LiveCounters& live) : run_(run), live_(live) {
    const Options& o = run.options;
    connections_.resize(o.httpConnections);
    for (uint32_t i = 0; i < o.httpConnections; ++i) {
        connections_[i].index = i;
        connections_[i].node = i % uint32_t(run.endpoints.size());
        connections_[i].nextRoom = i % o.rooms;
    }
    counters_.assign(size_t(o.httpConnections) * o.rooms, 0);
    for (uint32_t r = 0; r < o.rooms; ++r) paths_.push_back(run.expandPath(o.postPath, r, 0));
    readBuffer_.resize(64 * 1024);
    result_.planned = uint64_t(std::llround(o.rate * o.durationSeconds));
}

PostWriter::~PostWriter() {
    for (Connection& c : connections_)
        if (c.fd >= 0) close(c.fd);
    if (epoll_ >= 0) close(epoll_);
}

uint64_t& PostWriter::counterOf(uint32_t connection, uint32_t room) {
    return counters_[size_t(connection) * run_.options.rooms + room];
}

void PostWriter::run() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    uint64_t now = monotonicNanos();
    for (Connection& c : connections_) connect(c, now);
    uint64_t giveUpAt = 0;
    epoll_event events[kMaxEvents];
    for (;;) {
        Phase phase = run_.phase();
        now = monotonicNanos();
        if (phase == Phase::Stop) break;
        if (phase == Phase::Write) sendDueWrites(now);
        if (phase >= Phase::Drain) {
            if (live_.inFlight.load(std::memory_order_relaxed) == 0) break;
            if (giveUpAt == 0) giveUpAt = now + uint64_t(run_.options.requestTimeoutSeconds * 1e9);
            if (now >= giveUpAt) break;
        }
        expireRequests(now);
        for (Connection& c : connections_)
            if (c.state == Connection::State::Down && now >= c.retryAtNanos && phase <= Phase::Write)
                connect(c, now);
        int n = epoll_wait(epoll_, events, kMaxEvents, 1);
        now = monotonicNanos();
        for (int i = 0; i < n; ++i) onEvent(connections_[events[i].data.u32], events[i].events, now);
    }
    for (Connection& c : connections_)
        if (c.state == Connection::State::Busy) drop(c, "no answer before the end of the run", now);
}

void PostWriter::connect(Connection& c, uint64_t now) {
    c.fd = startConnect(run_.endpoints[c.node]);
    if (c.fd < 0) {
        ++result_.failures[std::string("connect: ") + strerror(errno)];
        c.retryAtNanos = now + kReconnectDelayNanos;
        return;
    }
    c.state = Connection::State::Connecting;
    c.in.clear();
    c.out.clear();
    c.outSent = 0;
    epoll_event event{};
    event.events = EPOLLOUT;
    event.data.u32 = c.index;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, c.fd, &event);
    c.wantsWritable = true;
}

void PostWriter::watch(Connection& c, uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.u32 = c.index;
    epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &event);
    c.wantsWritable = events & EPOLLOUT;
}

void PostWriter::onEvent(Connection& c, uint32_t events, uint64_t now) {
    if (c.state == Connection::State::Down) return;
    if (c.state == Connection::State::Connecting) {
        int error = 0;
        socklen_t length = sizeof error;
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length);
        if (error != 0) return drop(c, std::string("connect: ") + strerror(error), now);
        c.state = Connection::State::Idle;
        idle_.push_back(c.index);
        return watch(c, EPOLLIN);
    }
    if (events & EPOLLOUT) flush(c);
    if (c.state != Connection::State::Down && (events & (EPOLLIN | EPOLLHUP | EPOLLERR))) readAnswer(c, now);
}

void PostWriter::sendDueWrites(uint64_t now) {
    uint64_t start = run_.writeStartNanos.load(std::memory_order_acquire);
    double elapsed = double(now - start) / 1e9;
    uint64_t due = std::min(result_.planned, uint64_t(elapsed * run_.options.rate) + 1);
    while (result_.sent < due && !idle_.empty()) {
        auto scheduled = start + uint64_t(double(result_.sent) / run_.options.rate * 1e9);
        if (now > scheduled) result_.maxSendLagNanos = std::max(result_.maxSendLagNanos, now - scheduled);
        Connection& c = connections_[idle_.back()];
        idle_.pop_back();
        issue(c, uint32_t(std::min<uint64_t>(run_.options.batch, due - result_.sent)));
    }
}

void PostWriter::issue(Connection& c, uint32_t writes) {
    const Options& o = run_.options;
    c.room = c.nextRoom;
    c.nextRoom = (c.nextRoom + 1) % o.rooms;
    c.firstCounter = counterOf(c.index, c.room) + 1;
    counterOf(c.index, c.room) += writes;
    c.writes = writes;
    c.sentNanos = monotonicNanos();
    if (result_.firstSendNanos == 0) result_.firstSendNanos = c.sentNanos;
    std::string body;
    for (uint32_t i = 0; i < writes; ++i) {
        if (i) body += '\n';
        body +=
            encodePayload(run_.runId, WriteStamp{c.room, c.index, c.firstCounter + i, c.sentNanos}, o.size);
    }
    c.out = "POST " + paths_[c.room] + " HTTP/1.1\r\nHost: " + run_.endpoints[c.node].hostHeader +
            "\r\nContent-Type: " + (o.batch > 1 ? "application/x-ndjson" : "text/plain") +
            "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    c.outSent = 0;
    c.state = Connection::State::Busy;
    result_.sent += writes;
    live_.sent.fetch_add(writes, std::memory_order_relaxed);
    live_.inFlight.fetch_add(1, std::memory_order_relaxed);
    flush(c);
}

void PostWriter::flush(Connection& c) {
    while (c.outSent < c.out.size()) {
        ssize_t n = ::send(c.fd, c.out.data() + c.outSent, c.out.size() - c.outSent, MSG_NOSIGNAL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!c.wantsWritable) watch(c, EPOLLIN | EPOLLOUT);
            return;
        }
        if (n < 0) return drop(c, std::string("write: ") + strerror(errno), monotonicNanos());
        c.outSent += size_t(n);
    }
    c.out.clear();
    c.outSent = 0;
    if (c.wantsWritable) watch(c, EPOLLIN);
}

void PostWriter::readAnswer(Connection& c, uint64_t now) {
    for (;;) {
        ssize_t n = recv(c.fd, readBuffer_.data(), readBuffer_.size(), 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        if (n <= 0)
            return drop(
                c, n == 0 ? "connection closed by the server" : std::string("read: ") + strerror(errno), now);
        c.in.append(readBuffer_.data(), size_t(n));
        if (size_t(n) < readBuffer_.size()) break;
    }
    Answer answer;
    switch (parseAnswer(c.in, answer)) {
        case Parse::Incomplete:
            return;
        case Parse::Malformed:
            return drop(c, "malformed HTTP answer", now);
        case Parse::Complete:
            break;
    }
    if (c.state != Connection::State::Busy) return drop(c, "answer without a request", now);
    c.in.erase(0, answer.bytes);
    finish(c, answer.status, answer.keepAlive, now);
}

void PostWriter::finish(Connection& c, int status, bool keepAlive, uint64_t now) {
    live_.inFlight.fetch_sub(1, std::memory_order_relaxed);
    if (status >= 200 && status < 300) {
        result_.acknowledged += c.writes;
        for (uint32_t i = 0; i < c.writes; ++i) {
            result_.ackLatency.record(now > c.sentNanos ? now - c.sentNanos : 0);
            result_.ledger.add(c.room, c.index, c.firstCounter + i);
        }
        result_.lastAckNanos = now;
        run_.expectedWritesPerRoom[c.room].fetch_add(c.writes, std::memory_order_relaxed);
        live_.acknowledged.fetch_add(c.writes, std::memory_order_relaxed);
    } else {
        result_.failed += c.writes;
        ++result_.failures["HTTP " + std::to_string(status)];
    }
    c.state = Connection::State::Idle;
    if (keepAlive) {
        idle_.push_back(c.index);
        return;
    }
    close(c.fd);
    c.fd = -1;
    c.state = Connection::State::Down;
    c.retryAtNanos = now;
}

// Closes a connection that failed; a request in flight on it counts as a failed write. An idle
// connection the server closed (keep-alive timeout) is only reopened.
void PostWriter::drop(Connection& c, const std::string& why, uint64_t now) {
    bool wasIdle = c.state == Connection::State::Idle;
    if (c.state == Connection::State::Busy) {
        live_.inFlight.fetch_sub(1, std::memory_order_relaxed);
        result_.failed += c.writes;
    }
    if (wasIdle) {
        std::erase(idle_, c.index);
    } else {
        ++result_.failures[why];
    }
    if (c.fd >= 0) close(c.fd);
    c.fd = -1;
    c.state = Connection::State::Down;
    c.retryAtNanos = wasIdle ? now : now + kReconnectDelayNanos;
}

void PostWriter::expireRequests(uint64_t now) {
    auto timeout = uint64_t(run_.options.requestTimeoutSeconds * 1e9);
    for (Connection& c : connections_)
        if (c.state == Connection::State::Busy && now > c.sentNanos + timeout)
            drop(c, "no answer within --request-timeout", now);
}

}  // namespace partyline::bench
