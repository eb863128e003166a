// Test support for host/net: a hand-driven WebSocket client side (masked frames out, server frames
// in) and loopback socket pairs. Header-only so each test file stays self-contained.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace partyline::net::test {

using namespace std::chrono_literals;

// A client frame: masked, with the length form the payload needs. `b0` is FIN|RSV|opcode.
inline std::string maskedFrame(uint8_t b0, std::string_view payload, uint32_t maskKey = 0x37FA213D) {
    std::string frame;
    frame += char(b0);
    size_t n = payload.size();
    if (n < 126) {
        frame += char(0x80 | n);
    } else if (n <= 0xFFFF) {
        frame += char(0x80 | 126);
        frame += char(n >> 8);
        frame += char(n & 0xFF);
    } else {
        frame += char(0x80 | 127);
        for (int i = 7; i >= 0; --i) frame += char(uint64_t(n) >> (i * 8));
    }
    uint8_t mask[4] = {uint8_t(maskKey >> 24), uint8_t(maskKey >> 16), uint8_t(maskKey >> 8),
                       uint8_t(maskKey)};
    frame.append(reinterpret_cast<const char*>(mask), 4);
    for (size_t i = 0; i < n; ++i) frame += char(uint8_t(payload[i]) ^ mask[i % 4]);
    return frame;
}

// Only a masked header declaring `length` bytes: for frames whose payload is never sent.
inline std::string maskedHeader(uint8_t b0, uint64_t length) {
    std::string frame;
    frame += char(b0);
    frame += char(0x80 | 127);
    for (int i = 7; i >= 0; --i) frame += char(length >> (i * 8));
    frame += std::string("\x01\x02\x03\x04", 4);
    return frame;
}

inline std::string closePayload(uint16_t code, std::string_view reason = {}) {
    std::string p;
    p += char(code >> 8);
    p += char(code & 0xFF);
    p += reason;
    return p;
}

struct ServerFrame {
    uint8_t opcode = 0;
    bool fin = false;
    bool masked = false;
    std::string payload;

    uint16_t closeCode() const {
        return payload.size() >= 2 ? uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1])) : 1005;
    }
    std::string closeReason() const { return payload.size() > 2 ? payload.substr(2) : std::string(); }
};

// Reads what a server writes on `fd` and splits it into frames. Does not own the fd.
class FrameStream {
   public:
    explicit FrameStream(int fd) : fd_(fd) {}

    // The next frame, or nothing on end of stream, error or timeout (see eof()).
    std::optional<ServerFrame> next(std::chrono::milliseconds timeout = 3000ms) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        for (;;) {
            if (auto frame = parse()) return frame;
            if (eof_ || !fill(deadline)) return std::nullopt;
        }
    }

    // True once the peer ended the stream (or reset it).
    bool eof() const { return eof_; }

    // Waits for the end of the stream, discarding frames; false on timeout.
    bool waitEof(std::chrono::milliseconds timeout = 3000ms) {
        auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!eof_) {
            buffer_.clear();
            if (!fill(deadline)) return eof_;
        }
        return true;
    }

    size_t buffered() const { return buffer_.size(); }

   private:
    bool fill(std::chrono::steady_clock::time_point deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline -
                                                                          std::chrono::steady_clock::now());
        if (left.count() <= 0) return false;
        pollfd pfd{fd_, POLLIN, 0};
        if (::poll(&pfd, 1, int(left.count())) <= 0) return false;
        char chunk[65536];
        ssize_t n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
        if (n > 0) {
            buffer_.append(chunk, size_t(n));
            return true;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return true;
        eof_ = true;
        return false;
    }

    std::optional<ServerFrame> parse() {
        if (buffer_.size() < 2) return std::nullopt;
        auto b = [&](size_t i) { return uint8_t(buffer_[i]); };
        ServerFrame f;
        f.fin = b(0) & 0x80;
        f.opcode = b(0) & 0x0F;
        f.masked = b(1) & 0x80;
        uint64_t len = b(1) & 0x7F;
        size_t pos = 2;
        if (len == 126) {
            if (buffer_.size() < 4) return std::nullopt;
            len = uint64_t(b(2)) << 8 | b(3);
            pos = 4;
        } else if (len == 127) {
            if (buffer_.size() < 10) return std::nullopt;
            len = 0;
            for (size_t i = 0; i < 8; ++i) len = len << 8 | b(2 + i);
            pos = 10;
        }
        if (f.masked) pos += 4;
        if (buffer_.size() < pos + len) return std::nullopt;
        f.payload = buffer_.substr(pos, size_t(len));
        buffer_.erase(0, pos + size_t(len));
        return f;
    }

    int fd_;
    std::string buffer_;
    bool eof_ = false;
};

inline void setNonBlocking(int fd) {
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
}

inline bool writeAll(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) {
            pollfd pfd{fd, POLLOUT, 0};
            ::poll(&pfd, 1, 1000);
            continue;
        }
        if (n <= 0) return false;
        bytes.remove_prefix(size_t(n));
    }
    return true;
}

// A connected loopback TCP pair as a server sees it: `server` came from accept() and is
// non-blocking, as CivetWeb leaves its worker sockets.
struct TcpPair {
    int client = -1;
    int server = -1;
    uint16_t serverPort = 0;  // the listening (local) port of `server`
    uint16_t clientPort = 0;  // the peer port `server` sees

    TcpPair() {
        int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        ::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(listener, 4);
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
        serverPort = ntohs(addr.sin_port);
        client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        ::close(listener);
        sockaddr_in peer{};
        len = sizeof peer;
        ::getsockname(client, reinterpret_cast<sockaddr*>(&peer), &len);
        clientPort = ntohs(peer.sin_port);
        setNonBlocking(server);
        int one = 1;
        ::setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    ~TcpPair() {
        closeClient();
        closeServer();
    }
    void closeClient() {
        if (client >= 0) ::close(client);
        client = -1;
    }
    void closeServer() {
        if (server >= 0) ::close(server);
        server = -1;
    }
    TcpPair(const TcpPair&) = delete;
    TcpPair& operator=(const TcpPair&) = delete;
};

// A connected AF_UNIX stream pair: `writer` (non-blocking) is the server's side, `reader` the client's.
struct UnixPair {
    int writer = -1;
    int reader = -1;

    explicit UnixPair(int sendBufferBytes = 0) {
        int fds[2];
        ::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds);
        writer = fds[0];
        reader = fds[1];
        setNonBlocking(writer);
        if (sendBufferBytes > 0) {
            ::setsockopt(writer, SOL_SOCKET, SO_SNDBUF, &sendBufferBytes, sizeof sendBufferBytes);
            ::setsockopt(reader, SOL_SOCKET, SO_RCVBUF, &sendBufferBytes, sizeof sendBufferBytes);
        }
    }
    ~UnixPair() {
        if (writer >= 0) ::close(writer);
        if (reader >= 0) ::close(reader);
    }
    UnixPair(const UnixPair&) = delete;
    UnixPair& operator=(const UnixPair&) = delete;
};

}  // namespace partyline::net::test
