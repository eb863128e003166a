#include "net/Reactor.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "core/Log.h"
#include "net/SocketLocator.h"

namespace partyline::net {
namespace {

using Clock = std::chrono::steady_clock;

// Timers (pings, dead peers, close deadlines) are looked at this often.
constexpr std::chrono::milliseconds kTick{250};
// A Close was sent: how long to wait for the peer's answer or the Sender's
// shutdown before the socket is closed anyway (the Sender's grace is 2 s).
constexpr std::chrono::seconds kCloseWait{3};
// Bytes read per socket per wake-up, so one busy client cannot starve others
// (epoll is level-triggered: the rest is read on the next round).
constexpr size_t kReadBudget = 256 * 1024;
constexpr size_t kReadBuffer = 64 * 1024;
constexpr int kMaxEvents = 256;

}  // namespace

struct Reactor::Connection {
    Connection(int fd, std::shared_ptr<Outbox> outbox, std::unique_ptr<SessionHandler> handler,
               const SessionLimits& limits)
        : fd(fd), outbox(std::move(outbox)), handler(std::move(handler)), limits(limits),
          reader(limits.maxMessageBytes), lastByte(Clock::now()) {}

    int fd;
    std::shared_ptr<Outbox> outbox;
    std::unique_ptr<SessionHandler> handler;
    SessionLimits limits;
    FrameReader reader;
    Clock::time_point lastByte;
    bool pingSent = false;
    bool closing = false;
    Clock::time_point closeDeadline;
    uint16_t code = 0;  // the result reported to onClosed
    std::string reason;
};

Reactor::Reactor() {
    epoll_ = epoll_create1(EPOLL_CLOEXEC);
    wakeFd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wakeFd_;
    epoll_ctl(epoll_, EPOLL_CTL_ADD, wakeFd_, &ev);
    thread_ = std::thread([this] { run(); });
}

Reactor::~Reactor() {
    drain();
    // Give the Close frames a moment to be written before the sockets go.
    for (int i = 0; i < 20 && open_.load() > 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    stopping_ = true;
    wake();
    thread_.join();
    close(wakeFd_);
    close(epoll_);
}

void Reactor::adopt(int fd, std::shared_ptr<Outbox> outbox, std::unique_ptr<SessionHandler> handler,
                    const SessionLimits& limits) {
    open_++;
    {
        std::lock_guard lock(mutex_);
        adopted_.push_back(std::make_unique<Connection>(fd, std::move(outbox), std::move(handler), limits));
    }
    wake();
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
    while (!stopping_) {
        int n = epoll_wait(epoll_, events, kMaxEvents, int(kTick.count()));
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
        auto now = Clock::now();
        if (now >= nextCheck || draining_) {
            nextCheck = now + kTick;
            std::vector<int> fds;
            fds.reserve(connections_.size());
            for (auto& [fd, c] : connections_) fds.push_back(fd);
            for (int fd : fds)
                if (auto it = connections_.find(fd); it != connections_.end()) check(*it->second);
        }
    }
    takeAdopted();
    std::vector<int> fds;
    for (auto& [fd, c] : connections_) fds.push_back(fd);
    for (int fd : fds) finish(fd);
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
        connections_[fd] = std::move(c);
        if (epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev) != 0) {
            log::error("reactor", std::string("epoll_ctl: ") + strerror(errno));
            finish(fd);
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
                handle(c, events);
                events.clear();
            }
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        if (n < 0 && errno == EINTR) continue;
        return finish(c.fd);  // end of stream or a socket error: the session is over
    }
}

void Reactor::handle(Connection& c, std::vector<FrameReader::Event>& events) {
    using Kind = FrameReader::Event::Kind;
    for (auto& e : events) {
        if (c.closing) return;
        switch (e.kind) {
            case Kind::Message: c.handler->onMessage(std::move(e.payload), e.binary); break;
            case Kind::Ping:
                c.outbox->send(std::make_shared<const std::string>(encodeFrame(Opcode::Pong, e.payload)));
                break;
            case Kind::Pong: break;
            case Kind::Close:
                // Echo the peer's Close; its code is the session's result.
                c.code = e.code;
                c.reason = e.reason;
                startClose(c, e.code == close_code::NoStatus ? close_code::Normal : e.code, {});
                break;
            case Kind::ProtocolError: startClose(c, e.code, e.reason); break;
        }
    }
}

void Reactor::startClose(Connection& c, uint16_t code, std::string reason) {
    if (c.closing) return;
    if (!c.code) {
        c.code = code;
        c.reason = reason;
    }
    c.closing = true;
    c.closeDeadline = Clock::now() + kCloseWait;
    c.outbox->close(code, reason);  // written after what is queued; then the Sender shuts the socket down
}

void Reactor::check(Connection& c) {
    auto now = Clock::now();
    if (c.closing) {
        if (now >= c.closeDeadline) finish(c.fd);
        return;
    }
    if (c.outbox->closed()) {  // a slow consumer, or the room closed it
        if (auto local = c.outbox->localClose()) {
            c.code = local->code;
            c.reason = local->reason;
        }
        c.closing = true;
        c.closeDeadline = now + kCloseWait;
        return;
    }
    if (draining_) return startClose(c, close_code::GoingAway, "server shutting down");
    auto silence = now - c.lastByte;
    if (silence >= c.limits.pingTimeout) {
        // Half-open: nothing arrives, so nothing sent would be read either.
        c.code = close_code::Abnormal;
        c.reason = "ping timeout";
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
    connections_.erase(it);
    epoll_ctl(epoll_, EPOLL_CTL_DEL, fd, nullptr);
    c->outbox->detach();  // the Sender lets go of the fd before it is closed
    if (!c->code) {
        if (auto local = c->outbox->localClose()) {
            c->code = local->code;
            c->reason = local->reason;
        } else {
            c->code = close_code::Abnormal;
            c->reason = "connection lost";
        }
    }
    releaseSocket(fd);
    close(fd);
    open_--;
    c->handler->onClosed(c->code, c->reason);
}

}  // namespace partyline::net
