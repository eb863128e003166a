#include "RawSender.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "app/HttpHeaders.h"
#include "net/WebSocketProtocol.h"

namespace partyline::bench {

namespace {
constexpr int kMaxEvents = 256;
constexpr size_t kReadChunk = 64 << 10;
constexpr size_t kMaxClientMessageBytes = 64 << 10;  // clients only send the bench's close frame
// After a refusal, what the client still sends is read and dropped, up to this much, before the
// socket is closed: closing with unread bytes would reset the connection and lose the answer.
constexpr size_t kMaxLingerBytes = 1 << 20;
// Connections past --max-clients that may linger on their 503 at once.
constexpr size_t kMaxRefusing = 256;
}  // namespace

struct RawSender::Connection {
    explicit Connection(int socket) : fd(socket), frames(kMaxClientMessageBytes) {}
    int fd;
    bool webSocket = false;
    bool closed = false;
    bool wantsWritable = false;
    bool closeAfterFlush = false;
    bool dirty = false;      // frames appended this round, written after it
    bool lingering = false;  // answered and shut down for writing; reading until the client closes
    size_t lingered = 0;     // bytes dropped while lingering
    std::string in;          // HTTP bytes not yet handled
    std::string out;         // bytes not yet written
    size_t outSent = 0;      // of `out`
    net::FrameReader frames;
};

RawSender::RawSender(RawSenderLimits limits) : limits_(limits) {
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
    readBuffer_.resize(kReadChunk);
}

RawSender::~RawSender() {
    for (auto& [fd, c] : connections_) ::close(fd);
    if (listener_ >= 0) ::close(listener_);
    ::close(wake_);
    ::close(epoll_);
}

uint16_t RawSender::listen(const std::string& host, uint16_t port, std::string& error) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
        error = "not an IPv4 address: " + host;
        return 0;
    }
    listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listener_, int(std::min<uint32_t>(limits_.maxClients, 65535))) != 0) {
        error = "cannot listen on " + host + ":" + std::to_string(port) + ": " + std::strerror(errno);
        return 0;
    }
    socklen_t size = sizeof addr;
    ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &size);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listener_;
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, listener_, &ev);
    return ntohs(addr.sin_port);
}

void RawSender::stop() {
    uint64_t one = 1;
    [[maybe_unused]] auto written = ::write(wake_, &one, sizeof one);
}

void RawSender::run() {
    epoll_event events[kMaxEvents];
    for (bool running = true; running;) {
        int n = ::epoll_wait(epoll_, events, kMaxEvents, -1);
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == wake_) {
                running = false;
            } else if (fd == listener_) {
                accept();
            } else if (auto it = connections_.find(fd); it != connections_.end() && !it->second->closed) {
                onEvent(*it->second, events[i].events);
            }
        }
        // One send per client for all the frames this round's broadcasts gave it.
        for (Connection* c : dirty_) {
            c->dirty = false;
            if (!c->closed) flush(*c);
        }
        dirty_.clear();
        // Freed only here, so neither this round's events nor a fan-out meet a freed connection.
        if (!closing_.empty()) {
            std::erase_if(clients_, [](const Connection* c) { return c->closed; });
            for (int fd : closing_) {
                connections_.erase(fd);
                ::close(fd);
            }
            closing_.clear();
        }
    }
}

void RawSender::accept() {
    for (;;) {
        int fd = ::accept4(listener_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) return;  // EAGAIN, or out of descriptors: the rest wait in the backlog
        // Past the limit the connection is still answered 503 and lingers like any refusal, so
        // the client reads the answer rather than a reset; past a further margin it is just closed.
        bool full = connections_.size() >= limits_.maxClients;
        if (full && connections_.size() >= size_t(limits_.maxClients) + kMaxRefusing) {
            ::close(fd);
            ++counts_.refused;
            continue;
        }
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        connections_[fd] = std::make_unique<Connection>(fd);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP;
        ev.data.fd = fd;
        ::epoll_ctl(epoll_, EPOLL_CTL_ADD, fd, &ev);
        if (full) refuse(*connections_[fd], 503, "Service Unavailable", "too many connections");
    }
}

void RawSender::onEvent(Connection& c, uint32_t events) {
    if (events & EPOLLOUT) flush(c);
    if (c.closed) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        if (c.lingering)
            drain(c);
        else if (c.webSocket)
            readFrames(c);
        else
            readHttp(c);
    }
}

void RawSender::drain(Connection& c) {
    for (;;) {
        ssize_t got = ::recv(c.fd, readBuffer_.data(), readBuffer_.size(), 0);
        if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
        c.lingered += got > 0 ? size_t(got) : 0;
        if (got <= 0 || c.lingered > kMaxLingerBytes) return closeConnection(c);
    }
}

// The last bytes are out: a WebSocket (its close frame sent) ends now, an HTTP connection lingers.
void RawSender::finish(Connection& c) {
    if (c.webSocket) return closeConnection(c);
    ::shutdown(c.fd, SHUT_WR);
    c.lingering = true;
    c.in.clear();
    drain(c);
}

void RawSender::readHttp(Connection& c) {
    for (;;) {
        ssize_t got = ::recv(c.fd, readBuffer_.data(), readBuffer_.size(), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return closeConnection(c);
        if (got < 0) break;
        c.in.append(readBuffer_.data(), size_t(got));
    }
    // Every complete request in order (a keep-alive connection sends the next after the answer).
    while (!c.closed && !c.webSocket && !c.lingering && !c.closeAfterFlush) {
        size_t end = c.in.find("\r\n\r\n");
        if ((end == std::string::npos ? c.in.size() : end) > limits_.maxRequestHeadBytes)
            return refuse(c, 431, "Request Header Fields Too Large", "request head over the limit");
        if (end == std::string::npos) return;
        std::string head = c.in.substr(0, end + 4);
        handleRequest(c, head);
    }
}

void RawSender::handleRequest(Connection& c, std::string_view head) {
    std::string_view requestLine = head.substr(0, head.find("\r\n"));
    size_t space1 = requestLine.find(' '), space2 = requestLine.rfind(' ');
    if (space1 == std::string_view::npos || space2 == space1)
        return refuse(c, 400, "Bad Request", "malformed request line");
    std::string_view method = requestLine.substr(0, space1);
    std::string_view path = requestLine.substr(space1 + 1, space2 - space1 - 1);
    path = path.substr(0, path.find('?'));
    HttpHeaders headers;
    for (size_t at = requestLine.size() + 2; at + 2 < head.size();) {
        size_t eol = head.find("\r\n", at);
        std::string_view line = head.substr(at, eol - at);
        at = eol + 2;
        size_t colon = line.find(':');
        if (colon == std::string_view::npos) return refuse(c, 400, "Bad Request", "malformed header line");
        std::string name(line.substr(0, colon));
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char ch) { return std::tolower(ch); });
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
        headers.add(name, value);
    }
    size_t headBytes = head.size();

    if (headers.hasToken("upgrade", "websocket")) {
        const std::string* key = headers.find("sec-websocket-key");
        if (method != "GET") return refuse(c, 405, "Method Not Allowed", "an upgrade is a GET");
        if (!key || key->empty()) return refuse(c, 400, "Bad Request", "no Sec-WebSocket-Key");
        c.in.erase(0, headBytes);
        if (!c.in.empty()) return refuse(c, 400, "Bad Request", "bytes before the handshake was answered");
        queue(c, net::upgradeResponse(*key, ""));
        c.webSocket = true;
        clients_.push_back(&c);
        ++counts_.upgrades;
        return;
    }
    if (method == "GET" && path == "/healthz") {
        c.in.erase(0, headBytes);
        return answer(c, 200, "OK", "ok\n", false);
    }
    if (!path.ends_with("/broadcast"))
        return refuse(c, 404, "Not Found", "only POST .../broadcast and GET /healthz");
    if (method != "POST") return refuse(c, 405, "Method Not Allowed", "broadcast is a POST");
    const std::string* type = headers.find("content-type");
    if (type && type->starts_with("application/x-ndjson"))
        return refuse(c, 415, "Unsupported Media Type", "batches are not sent raw: one write per POST");
    const std::string* lengthText = headers.find("content-length");
    size_t length = 0;
    if (!lengthText ||
        std::from_chars(lengthText->data(), lengthText->data() + lengthText->size(), length).ec !=
            std::errc{})
        return refuse(c, 400, "Bad Request", "a broadcast needs a Content-Length");
    if (length > limits_.maxBodyBytes) return refuse(c, 413, "Content Too Large", "body over the limit");
    if (c.in.size() < headBytes + length) return;  // the body is still coming
    std::string body = c.in.substr(headBytes, length);
    c.in.erase(0, headBytes + length);
    broadcast(body);
    ++counts_.broadcasts;
    answer(c, 200, "OK", "{\"seq\":" + std::to_string(++seq_) + "}", false);
}

void RawSender::broadcast(std::string_view body) {
    const std::string frame = net::encodeFrame(net::Opcode::Text, body);
    for (Connection* client : clients_) {
        if (client->closed) continue;
        if (client->out.size() - client->outSent + frame.size() > limits_.maxPendingBytes) {
            ++counts_.dropped;
            closeConnection(*client);
            continue;
        }
        client->out.append(frame);
        if (!client->dirty) {
            client->dirty = true;
            dirty_.push_back(client);
        }
        ++counts_.frames;
    }
}

void RawSender::readFrames(Connection& c) {
    std::vector<net::FrameReader::Event> events;
    for (;;) {
        ssize_t got = ::recv(c.fd, readBuffer_.data(), readBuffer_.size(), 0);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR)) return closeConnection(c);
        if (got < 0) break;
        c.frames.feed(std::string_view(readBuffer_.data(), size_t(got)), events);
    }
    for (auto& event : events) {
        using Kind = net::FrameReader::Event::Kind;
        if (event.kind == Kind::Ping) {
            queue(c, net::encodeFrame(net::Opcode::Pong, event.payload));
        } else if (event.kind == Kind::Close || event.kind == Kind::ProtocolError) {
            uint16_t code = event.kind == Kind::Close ? net::close_code::Normal : event.code;
            c.closeAfterFlush = true;
            queue(c, net::encodeCloseFrame(code, event.kind == Kind::Close ? "" : event.reason));
            return;
        }
        // Messages and pongs are read and dropped: the clients only listen.
    }
}

void RawSender::answer(Connection& c, int status, std::string_view reason, std::string_view body,
                       bool close) {
    std::string text = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) +
                       "\r\nContent-Type: " + (body.starts_with("{") ? "application/json" : "text/plain") +
                       "\r\nContent-Length: " + std::to_string(body.size()) +
                       (close ? "\r\nConnection: close\r\n\r\n" : "\r\n\r\n") + std::string(body);
    if (close) c.closeAfterFlush = true;
    queue(c, text);
}

void RawSender::refuse(Connection& c, int status, std::string_view reason, std::string_view why) {
    ++counts_.refused;
    c.in.clear();
    answer(c, status, reason, std::string(why) + "\n", true);
}

// Writes at once when nothing is waiting, so the common case is one send() and no copy.
void RawSender::queue(Connection& c, std::string_view bytes) {
    if (c.closed) return;
    if (c.outSent == c.out.size()) {
        c.out.clear();
        c.outSent = 0;
        ssize_t sent = ::send(c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && errno != EAGAIN && errno != EINTR) return closeConnection(c);
        size_t done = sent > 0 ? size_t(sent) : 0;
        if (done == bytes.size()) {
            if (c.closeAfterFlush) finish(c);
            return;
        }
        bytes.remove_prefix(done);
    }
    c.out.append(bytes);
    watchWritable(c, true);
}

void RawSender::flush(Connection& c) {
    while (c.outSent < c.out.size()) {
        ssize_t sent =
            ::send(c.fd, c.out.data() + c.outSent, c.out.size() - c.outSent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent < 0 && (errno == EAGAIN || errno == EINTR)) return watchWritable(c, true);
        if (sent <= 0) return closeConnection(c);
        c.outSent += size_t(sent);
    }
    c.out.clear();
    c.outSent = 0;
    watchWritable(c, false);
    if (c.closeAfterFlush) finish(c);
}

void RawSender::watchWritable(Connection& c, bool on) {
    if (c.wantsWritable == on) return;
    c.wantsWritable = on;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
    ev.data.fd = c.fd;
    ::epoll_ctl(epoll_, EPOLL_CTL_MOD, c.fd, &ev);
}

void RawSender::closeConnection(Connection& c) {
    if (c.closed) return;
    c.closed = true;
    ::epoll_ctl(epoll_, EPOLL_CTL_DEL, c.fd, nullptr);
    closing_.push_back(c.fd);
}

}  // namespace partyline::bench
