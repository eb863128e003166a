#include "net/Reactor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>
#include <string>

#include "core/Log.h"
#include "core/Metrics.h"
#include "core/ThreadName.h"
#include "net/SocketLocator.h"
#include "net/TokenBucket.h"

namespace partyline::net {
namespace {

using Clock = std::chrono::steady_clock;

// Timers (pings, dead peers, close deadlines) are looked at this often.
constexpr std::chrono::milliseconds kTick{250};
// Timers looked at this much later than a tick mean this thread did not run: see forgiveStall.
constexpr std::chrono::seconds kStallForgiven{1};
// A Close was queued: how long to wait for the end of the stream before the
// socket is closed anyway. The stream ends when the client, having read the
// Close and the end of the server's side, closes its side, or when the Sender
// gives up on a client that does not read (its grace is 2 s).
constexpr std::chrono::seconds kCloseWait{3};
// The destructor gives the 1001 Close frames this long to go out before it
// closes what is left.
constexpr std::chrono::seconds kDrainWait{1};
// Bytes read per socket per wake-up, so one busy client cannot starve others
// (epoll is level-triggered: the rest is read on the next round).
constexpr size_t kReadBudget = 256 * 1024;
constexpr size_t kReadBuffer = 64 * 1024;
constexpr int kMaxEvents = 256;

}  // namespace

// One session's state, on the Reactor's thread only.
struct Reactor::Connection {
    Connection(int fd, std::shared_ptr<Outbox> outbox, std::unique_ptr<SessionHandler> handler,
               const SessionLimits& limits)
        : fd(fd),
          outbox(std::move(outbox)),
          handler(std::move(handler)),
          limits(limits),
          reader(limits.maxMessageBytes),
          lastByte(Clock::now()),
          rate(limits.messagesPerSecond, limits.messageBurst, lastByte) {}

    // The first cause wins: later ones are consequences of it.
    void setResult(uint16_t resultCode, std::string_view resultReason) {
        if (code) return;
        code = resultCode;
        reason = resultReason;
    }
    // This side may have closed first (the room, or the Sender for a slow
    // consumer), unnoticed until now.
    void setResultFromOutbox() {
        if (auto local = outbox->localClose()) setResult(local->code, local->reason);
    }

    int fd;
    std::shared_ptr<Outbox> outbox;
    std::unique_ptr<SessionHandler> handler;
    SessionLimits limits;
    FrameReader reader;
    Clock::time_point lastByte;
    TokenBucket rate;                               // messages the client may still send now
    bool pingSent = false;                          // since the last byte arrived
    std::optional<Clock::time_point> messageBegan;  // a message or frame is unfinished since then
    bool closing = false;  // a Close is queued: only the end of the stream matters now
    Clock::time_point closeDeadline;
    uint16_t code = 0;  // the result reported to onClosed; 0: none yet
    std::string reason;
};

Reactor::Reactor(size_t maxPendingInputBytes) : budget_(maxPendingInputBytes) {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakeFd_;
    if (epoll_ < 0 || wakeFd_ < 0 || epoll_ctl(epoll_, EPOLL_CTL_ADD, wakeFd_, &ev) != 0)
        log::error("reactor", std::string("cannot create epoll/eventfd: ") + strerror(errno));
    thread_ = std::thread([this] {
        nameThisThread("pl-reactor");
        run();
    });
}

Reactor::~Reactor() {
    drain();
    {
        std::unique_lock lock(mutex_);
        allClosed_.wait_for(lock, kDrainWait, [this] { return open_.load() == 0; });
    }
    stopping_ = true;
    wake();
    thread_.join();
    close(wakeFd_);
    close(epoll_);
}

void Reactor::adopt(int fd, std::shared_ptr<Outbox> outbox, std::unique_ptr<SessionHandler> handler,
                    const SessionLimits& limits) {
    {
        std::lock_guard lock(mutex_);
        open_++;
        adopted_.push_back(std::make_unique<Connection>(fd, std::move(outbox), std::move(handler), limits));
    }
    wake();
}

void Reactor::writeMetrics(Metrics& out) const {
    Stats s = stats();
    out.counter("partyline_rate_limit_closes_total",
                "Clients closed 1008 for sending over their message rate.", s.rateLimited);
    out.counter("partyline_ping_timeouts_total",
                "Clients dropped for silence past limits.ping_timeout_seconds.", s.pingTimeouts);
    out.counter("partyline_message_timeouts_total",
                "Clients closed 1008 for a message unfinished past limits.message_timeout_ms.",
                s.messageTimeouts);
    out.counter("partyline_input_budget_closes_total",
                "Clients closed 1013 because unfinished messages held limits.max_pending_input_bytes.",
                s.inputBudgetCloses);
    out.gauge("partyline_pending_input_bytes", "Bytes held in unfinished WebSocket messages.",
              s.pendingInputBytes);
}

void Reactor::drain() {
    draining_ = true;
    wake();
}

void Reactor::wake() {
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd_, &one, sizeof one);
    (void)ignored;
}

void Reactor::run() {
    epoll_event events[kMaxEvents];
    auto nextCheck = Clock::now() + kTick;
    lastChecked_ = Clock::now();
    bool drainSwept = false;  // every connection was asked to close 1001
    while (!stopping_) {
        // settle() calls made before this round's epoll_wait are answered after it: every byte
        // that had arrived for them is read by then.
        std::vector<std::shared_ptr<std::promise<void>>> settling;
        {
            std::lock_guard lock(mutex_);
            settling.swap(settles_);
        }
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(nextCheck - Clock::now());
        if (!settling.empty()) wait = std::chrono::milliseconds(0);
        int n = epoll_wait(epoll_, events, kMaxEvents,
                           int(std::clamp(wait, std::chrono::milliseconds(0), kTick).count()));
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == wakeFd_) {
                uint64_t count;
                ssize_t ignored = read(wakeFd_, &count, sizeof count);
                (void)ignored;
                takeAdopted();
                continue;
            }
            auto it = connections_.find(fd);
            if (it != connections_.end()) readFrom(*it->second);
        }
        if (n == kMaxEvents) {  // more sockets may be ready than one round saw: one more round
            std::lock_guard lock(mutex_);
            settles_.insert(settles_.end(), settling.begin(), settling.end());
        } else {
            for (auto& done : settling) done->set_value();
        }
        // Timers once a tick; a drain at once, but only once: after it, the
        // closing connections need nothing until their stream ends.
        bool draining = draining_.load();
        auto now = Clock::now();
        if (now < nextCheck && (!draining || drainSwept)) continue;
        drainSwept = draining;
        nextCheck = now + kTick;
        checkAll();
    }
    takeAdopted();
    std::vector<int> fds;
    for (auto& [fd, c] : connections_) fds.push_back(fd);
    for (int fd : fds) finish(fd);
    std::lock_guard lock(mutex_);
    for (auto& done : settles_) done->set_value();
    settles_.clear();
}

void Reactor::settle(std::chrono::milliseconds timeout) {
    auto done = std::make_shared<std::promise<void>>();
    auto settled = done->get_future();
    {
        std::lock_guard lock(mutex_);
        if (stopping_) return;
        settles_.push_back(std::move(done));
    }
    wake();
    settled.wait_for(timeout);
}

void Reactor::checkAll() {
    forgiveStall(Clock::now());
    std::vector<int> fds;
    fds.reserve(connections_.size());
    for (auto& [fd, c] : connections_) fds.push_back(fd);
    for (int fd : fds)  // check() may finish a connection: look each one up again
        if (auto it = connections_.find(fd); it != connections_.end()) check(*it->second);
}

// Time this thread did not run (the process was stopped, or starved of processor time) is no
// client's silence and no client's slowness: every connection's clocks move on by it, so a node
// that was paused does not drop its clients for its own pause.
void Reactor::forgiveStall(Clock::time_point now) {
    auto late = now - lastChecked_ - kTick;
    lastChecked_ = now;
    if (late < kStallForgiven) return;
    for (auto& [fd, c] : connections_) {
        c->lastByte = std::min(now, c->lastByte + late);
        if (c->messageBegan) c->messageBegan = std::min(now, *c->messageBegan + late);
    }
}

void Reactor::takeAdopted() {
    std::vector<std::unique_ptr<Connection>> adopted;
    {
        std::lock_guard lock(mutex_);
        adopted.swap(adopted_);
    }
    for (auto& c : adopted) {
        int fd = c->fd;
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        Connection& connection = *c;
        connections_[fd] = std::move(c);
        if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            log::error("reactor", std::string("epoll_ctl: ") + strerror(errno));
            finish(fd);
        } else if (draining_) {
            check(connection);  // adopted after the drain's sweep: closes it 1001 now
        }
    }
}

void Reactor::readFrom(Connection& c) {
    char buffer[kReadBuffer];
    std::vector<FrameReader::Event> events;
    size_t total = 0;
    while (total < kReadBudget) {
        ssize_t n = recv(c.fd, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n > 0) {
            total += size_t(n);
            c.lastByte = Clock::now();
            c.pingSent = false;
            if (!c.closing) {
                c.reader.feed(std::string_view(buffer, size_t(n)), events);
                // The budget first: a connection over it is closed before anything else in
                // this read is answered (a ping behind the part it could not hold gets no pong).
                account(c);
                handle(c, events);
                events.clear();
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        // End of stream (the client closing, or the Sender giving up on it) or
        // a socket error: the session is over.
        return finish(c.fd);
    }
}

void Reactor::handle(Connection& c, std::vector<FrameReader::Event>& events) {
    using Kind = FrameReader::Event::Kind;
    for (auto& e : events) {
        if (c.closing) return;
        switch (e.kind) {
            case Kind::Message:
                if (withinRate(c)) c.handler->onMessage(std::move(e.payload), e.binary);
                break;
            case Kind::Ping:  // a ping costs an answer: it counts like a message
                if (withinRate(c))
                    c.outbox->send(std::make_shared<const std::string>(encodeFrame(Opcode::Pong, e.payload)));
                break;
            case Kind::Pong:  // any byte already counted as a sign of life; a flood counts as one
                withinRate(c);
                break;
            case Kind::Close:
                // The peer's code is the result unless this side closed first;
                // the echo carries the same code (1005 encodes an empty Close).
                c.setResultFromOutbox();
                startClose(c, e.code, e.reason, {});
                c.handler->onPeerClosed(c.code, c.reason);
                break;
            case Kind::ProtocolError:
                c.setResultFromOutbox();
                startClose(c, e.code, e.reason, e.reason);
                break;
        }
    }
}

bool Reactor::withinRate(Connection& c) {
    if (c.rate.take(c.lastByte)) return true;
    std::string why = "message rate over limits.max_messages_per_second (" +
                      std::to_string(uint64_t(c.limits.messagesPerSecond)) + "/s)";
    rateLimited_++;
    startClose(c, close_code::PolicyViolation, why, why);
    return false;
}

void Reactor::account(Connection& c) {
    if (c.closing) return;  // startClose released it
    bool begun = c.reader.midMessage();
    if (!begun) {
        c.messageBegan.reset();
    } else if (!c.messageBegan) {
        c.messageBegan = c.lastByte;
    }
    budget_.update(c.fd, c.reader.heldBytes());
    while (auto fd = budget_.offender()) {
        auto it = connections_.find(*fd);
        if (it == connections_.end()) {
            budget_.update(*fd, 0);
            continue;
        }
        inputBudgetCloses_++;
        std::string why = "unfinished messages over limits.max_pending_input_bytes (" +
                          std::to_string(budget_.limit()) + " bytes on this node); retry later";
        startClose(*it->second, close_code::TryAgainLater, why, why);
    }
    pendingInputBytes_ = budget_.total();
}

// The connection will read nothing more: what its reader holds is freed and leaves the budget.
void Reactor::release(Connection& c) {
    c.reader.discard();
    c.messageBegan.reset();
    budget_.update(c.fd, 0);
    pendingInputBytes_ = budget_.total();
}

void Reactor::startClose(Connection& c, uint16_t code, std::string_view reason, std::string_view sentReason) {
    c.setResult(code, reason);
    c.outbox->close(code, sentReason);  // written after what is queued, then the end of the stream
    enterClosing(c);
}

void Reactor::enterClosing(Connection& c) {
    release(c);
    c.closing = true;
    c.closeDeadline = Clock::now() + kCloseWait;
}

void Reactor::check(Connection& c) {
    auto now = Clock::now();
    if (c.closing) {
        if (now >= c.closeDeadline) finish(c.fd);
        return;
    }
    if (c.outbox->closed()) {  // a slow consumer, the room closed it, or a write failed
        c.setResultFromOutbox();
        return enterClosing(c);  // its Close, if any, is on the way
    }
    if (draining_) {
        return startClose(c, close_code::GoingAway, "server shutting down", "server shutting down");
    }
    if (c.limits.expiresAt && std::chrono::system_clock::now() >= *c.limits.expiresAt) {
        return startClose(c, close_code::TokenExpired, "token expired", "token expired");
    }
    if (c.messageBegan && now - *c.messageBegan >= c.limits.messageTimeout) {
        messageTimeouts_++;
        std::string why = "message not finished within limits.message_timeout_ms (" +
                          std::to_string(c.limits.messageTimeout.count()) + " ms)";
        return startClose(c, close_code::PolicyViolation, why, why);
    }
    auto silence = now - c.lastByte;
    if (silence >= c.limits.pingTimeout) {
        // Half-open: nothing arrives, so nothing sent would be read either.
        pingTimeouts_++;
        c.setResult(close_code::Abnormal, "ping timeout");
        return finish(c.fd);
    }
    if (silence >= c.limits.pingInterval && !c.pingSent) {
        c.outbox->send(std::make_shared<const std::string>(encodeFrame(Opcode::Ping, {})));
        c.pingSent = true;
    }
}

void Reactor::finish(int fd) {
    auto it = connections_.find(fd);
    if (it == connections_.end()) return;
    std::unique_ptr<Connection> c = std::move(it->second);
    release(*c);
    connections_.erase(it);
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    c->outbox->detach();  // the Sender lets go of the fd before it is closed
    c->setResultFromOutbox();
    c->setResult(close_code::Abnormal, "connection lost");
    releaseSocket(fd);
    close(fd);
    {
        std::lock_guard lock(mutex_);
        open_--;
    }
    allClosed_.notify_all();
    c->handler->onClosed(c->code, c->reason);
}

}  // namespace partyline::net
