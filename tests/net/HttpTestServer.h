// Test support for the Fetcher: an HTTP/1.1 server on 127.0.0.1 port 0, one thread accepting and
// one per connection, each answering one request and closing. A handler writes whatever bytes the
// test wants (a slow drip, a cut body, nothing at all); its waits end when the server stops, so
// the destructor never hangs on a handler. Header-only, loopback only.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace partyline::net::test {

struct HttpRequest {
    std::string method;
    std::string target;
    std::vector<std::pair<std::string, std::string>> headers;  // names in lower case
    std::string body;

    const std::string* header(std::string_view name) const {
        for (const auto& [n, v] : headers) {
            if (n == name) return &v;
        }
        return nullptr;
    }
};

// A complete answer that closes the connection.
inline std::string httpResponse(int status, std::string_view body, std::string_view extraHeaders = {}) {
    return "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n" + std::string(extraHeaders) + "\r\n" + std::string(body);
}

class HttpTestServer {
   public:
    class Exchange {
       public:
        Exchange(int fd, HttpTestServer& server) : fd_(fd), server_(server) {}
        // False once the peer is gone.
        bool write(std::string_view bytes) {
            while (!bytes.empty()) {
                ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
                if (n <= 0) return false;
                bytes.remove_prefix(size_t(n));
            }
            return true;
        }
        // False when the server stops first.
        bool sleep(std::chrono::milliseconds duration) { return server_.sleep(duration); }
        // Waits until the client closes (or the server stops), answering nothing.
        void waitForClose() {
            char buffer[4096];
            while (!server_.stopping()) {
                pollfd pfd{fd_, POLLIN, 0};
                if (::poll(&pfd, 1, 20) <= 0) continue;
                if (::recv(fd_, buffer, sizeof buffer, 0) <= 0) return;
            }
        }

       private:
        int fd_;
        HttpTestServer& server_;
    };
    using Handler = std::function<void(const HttpRequest&, Exchange&)>;

    // With readsRequest false the handler runs as soon as a connection is accepted, with an empty
    // request: for a server that answers before the client has spoken (or speaks another protocol).
    explicit HttpTestServer(Handler handler, bool readsRequest = true)
        : handler_(std::move(handler)), readsRequest_(readsRequest) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int one = 1;
        ::setsockopt(listener_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        ::bind(listener_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        ::listen(listener_, 1024);
        socklen_t len = sizeof addr;
        ::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr), &len);
        port_ = ntohs(addr.sin_port);
        acceptor_ = std::thread([this] { acceptLoop(); });
    }

    ~HttpTestServer() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        acceptor_.join();
        for (auto& t : connections_) t.join();
        ::close(listener_);
    }

    uint16_t port() const { return port_; }
    std::string url(std::string_view path = "/") const {
        return "http://127.0.0.1:" + std::to_string(port_) + std::string(path);
    }
    // Requests read in full so far.
    size_t requests() const { return requests_.load(); }
    // The last request read in full.
    HttpRequest last() {
        std::lock_guard lock(mutex_);
        return last_;
    }

    bool stopping() {
        std::lock_guard lock(mutex_);
        return stopping_;
    }
    bool sleep(std::chrono::milliseconds duration) {
        std::unique_lock lock(mutex_);
        return !wake_.wait_for(lock, duration, [&] { return stopping_; });
    }

   private:
    void acceptLoop() {
        while (!stopping()) {
            pollfd pfd{listener_, POLLIN, 0};
            if (::poll(&pfd, 1, 20) <= 0) continue;
            int fd = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
            if (fd < 0) continue;
            std::lock_guard lock(mutex_);
            connections_.emplace_back([this, fd] { serve(fd); });
        }
    }

    void serve(int fd) {
        HttpRequest request;
        if (!readsRequest_ || readRequest(fd, request)) {
            {
                std::lock_guard lock(mutex_);
                last_ = request;
            }
            ++requests_;
            Exchange exchange(fd, *this);
            handler_(request, exchange);
        }
        ::shutdown(fd, SHUT_WR);
        ::close(fd);
    }

    // Reads the head and a Content-Length body (all the Fetcher sends); false on a cut stream.
    bool readRequest(int fd, HttpRequest& request) {
        std::string data;
        size_t headEnd;
        while ((headEnd = data.find("\r\n\r\n")) == std::string::npos) {
            if (!readMore(fd, data)) return false;
        }
        std::string_view head(data.data(), headEnd);
        size_t lineEnd = head.find("\r\n");
        std::string_view line = head.substr(0, lineEnd);
        size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
        request.method = std::string(line.substr(0, sp1));
        request.target = std::string(line.substr(sp1 + 1, sp2 - sp1 - 1));
        size_t length = 0;
        while (lineEnd != std::string_view::npos && lineEnd < head.size()) {
            size_t next = head.find("\r\n", lineEnd + 2);
            std::string_view h =
                head.substr(lineEnd + 2, next == std::string_view::npos ? head.npos : next - lineEnd - 2);
            lineEnd = next;
            size_t colon = h.find(':');
            if (colon == std::string_view::npos) continue;
            std::string name(h.substr(0, colon));
            for (char& c : name) c = char(std::tolower(static_cast<unsigned char>(c)));
            std::string value(h.substr(colon + 1));
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            if (name == "content-length") length = std::stoul(value);
            request.headers.emplace_back(std::move(name), std::move(value));
        }
        request.body = data.substr(headEnd + 4);
        while (request.body.size() < length) {
            if (!readMore(fd, request.body)) return false;
        }
        return true;
    }

    bool readMore(int fd, std::string& data) {
        char buffer[16384];
        while (!stopping()) {
            pollfd pfd{fd, POLLIN, 0};
            if (::poll(&pfd, 1, 20) <= 0) continue;
            ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n <= 0) return false;
            data.append(buffer, size_t(n));
            return true;
        }
        return false;
    }

    Handler handler_;
    bool readsRequest_;
    int listener_ = -1;
    uint16_t port_ = 0;
    std::atomic<size_t> requests_{0};
    std::mutex mutex_;  // guards stopping_, last_, connections_
    std::condition_variable wake_;
    bool stopping_ = false;
    HttpRequest last_;
    std::vector<std::thread> connections_;
    std::thread acceptor_;
};

}  // namespace partyline::net::test
