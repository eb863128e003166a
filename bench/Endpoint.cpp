#include "Endpoint.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace partyline::bench {

std::optional<Endpoint> resolveEndpoint(std::string_view url, std::string& error) {
    std::string_view rest = url;
    for (std::string_view scheme : {"http://", "ws://"}) {
        if (rest.substr(0, scheme.size()) == scheme) {
            rest.remove_prefix(scheme.size());
            break;
        }
    }
    if (rest.size() == url.size()) {
        error = "URL must start with http:// or ws://: " + std::string(url);
        return std::nullopt;
    }
    if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
    if (rest.empty()) {
        error = "URL names no host: " + std::string(url);
        return std::nullopt;
    }
    if (rest.find('/') != std::string_view::npos) {
        error = "URL must name a node, not a path (use --ws-path and --post-path): " + std::string(url);
        return std::nullopt;
    }
    // HOST, HOST:PORT, [V6], [V6]:PORT
    std::string_view host = rest, port = "80";
    size_t hostEnd = rest.front() == '[' ? rest.find(']') : 0;
    if (hostEnd == std::string_view::npos) {
        error = "unclosed [ in " + std::string(url);
        return std::nullopt;
    }
    if (auto colon = rest.find(':', hostEnd); colon != std::string_view::npos) {
        host = rest.substr(0, colon);
        port = rest.substr(colon + 1);
    }
    if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* found = nullptr;
    if (int rc = getaddrinfo(std::string(host).c_str(), std::string(port).c_str(), &hints, &found); rc != 0) {
        error = "cannot resolve " + std::string(url) + ": " + gai_strerror(rc);
        return std::nullopt;
    }
    Endpoint endpoint;
    endpoint.url = std::string(url);
    endpoint.hostHeader = std::string(rest);
    std::memcpy(&endpoint.address, found->ai_addr, found->ai_addrlen);
    endpoint.addressLength = found->ai_addrlen;
    freeaddrinfo(found);
    return endpoint;
}

int startConnect(const Endpoint& endpoint, uint32_t source) {
    int fd = socket(endpoint.address.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (source > 0 && endpoint.address.ss_family == AF_INET) {
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
        sockaddr_in from{};
        from.sin_family = AF_INET;
        from.sin_addr.s_addr = htonl((127u << 24) + (1u << 8) + source);  // 127.0.1.0 + source
        if (bind(fd, reinterpret_cast<const sockaddr*>(&from), sizeof from) < 0) {
            int saved = errno;
            close(fd);
            errno = saved;
            return -1;
        }
    }
    if (connect(fd, reinterpret_cast<const sockaddr*>(&endpoint.address), endpoint.addressLength) < 0 &&
        errno != EINPROGRESS) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

uint64_t monotonicNanos() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return uint64_t(now.tv_sec) * 1000000000u + uint64_t(now.tv_nsec);
}

}  // namespace partyline::bench
