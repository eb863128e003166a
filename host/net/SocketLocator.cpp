#include "net/SocketLocator.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

namespace partyline::net {
namespace {

// Consecutive free fd numbers after which a scan stops. The fd we look for was the lowest free
// number when CivetWeb accepted it, so it sits below the highest open fd; gaps this long are rare,
// and when one hides the fd the /proc/self/fd fallback still finds it.
constexpr int kScanMargin = 256;

struct Registry {
    std::mutex mutex;
    std::vector<uint64_t> bits;  // bit fd%64 of word fd/64: fd is adopted
    int highest = 2;             // highest adopted fd: scans reach at least this far
};

// Never destroyed: worker threads may still look sockets up while the process exits.
Registry& registry() {
    static Registry* instance = new Registry;
    return *instance;
}

bool testBit(const std::vector<uint64_t>& bits, int fd) {
    size_t word = size_t(fd) / 64;
    return word < bits.size() && (bits[word] >> (fd % 64)) & 1;
}

struct Endpoint {
    in6_addr addr{};  // IPv4 as IPv4-mapped IPv6, so both families compare the same way
    uint16_t port = 0;
};

bool parseAddress(std::string_view text, in6_addr& out) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
    text = text.substr(0, text.find('%'));  // a link-local zone ("fe80::1%eth0") is not part of the address
    std::string copy(text);
    in_addr v4{};
    if (::inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
        std::memset(&out, 0, sizeof out);
        out.s6_addr[10] = 0xFF;
        out.s6_addr[11] = 0xFF;
        std::memcpy(&out.s6_addr[12], &v4, 4);
        return true;
    }
    return ::inet_pton(AF_INET6, copy.c_str(), &out) == 1;
}

bool toEndpoint(const sockaddr_storage& ss, Endpoint& out) {
    if (ss.ss_family == AF_INET) {
        auto& sin = reinterpret_cast<const sockaddr_in&>(ss);
        std::memset(&out.addr, 0, sizeof out.addr);
        out.addr.s6_addr[10] = 0xFF;
        out.addr.s6_addr[11] = 0xFF;
        std::memcpy(&out.addr.s6_addr[12], &sin.sin_addr, 4);
        out.port = ntohs(sin.sin_port);
        return true;
    }
    if (ss.ss_family == AF_INET6) {
        auto& sin6 = reinterpret_cast<const sockaddr_in6&>(ss);
        out.addr = sin6.sin6_addr;
        out.port = ntohs(sin6.sin6_port);
        return true;
    }
    return false;
}

enum class Probe { Free, Other, Match };

// One syscall for almost every fd: getpeername answers the peer, unique to the connection we look
// for (and fails at once on a free fd or one that is not a connected socket); only a socket whose
// peer matches gets the second call, getsockname, to check the local port.
Probe probe(int fd, uint16_t localPort, const Endpoint& peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) {
        return errno == EBADF ? Probe::Free : Probe::Other;
    }
    Endpoint remote;
    if (!toEndpoint(ss, remote) || remote.port != peer.port ||
        std::memcmp(&remote.addr, &peer.addr, sizeof peer.addr) != 0)
        return Probe::Other;
    len = sizeof ss;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return Probe::Other;
    Endpoint local;
    return toEndpoint(ss, local) && local.port == localPort ? Probe::Match : Probe::Other;
}

int fdLimit() {
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 1 << 20;
    return int(std::min<rlim_t>(limit.rlim_cur, 1 << 30));
}

// The first open fd at or above `from`, listed by the kernel, for which `match(fd)` is true; -1 if none.
template <class Match>
int scanProcFds(int from, Match match) {
    DIR* dir = ::opendir("/proc/self/fd");
    if (!dir) return -1;
    int own = ::dirfd(dir);
    int found = -1;
    while (dirent* entry = ::readdir(dir)) {
        char* end = nullptr;
        long fd = std::strtol(entry->d_name, &end, 10);
        if (*end != '\0' || end == entry->d_name || fd < from || fd == own) continue;
        if (match(int(fd))) {
            found = int(fd);
            break;
        }
    }
    ::closedir(dir);
    return found;
}

// The slow path of findSocket.
int scanProcFds(int from, uint16_t localPort, const Endpoint& peer, const std::vector<uint64_t>& adopted) {
    return scanProcFds(
        from, [&](int fd) { return !testBit(adopted, fd) && probe(fd, localPort, peer) == Probe::Match; });
}

}  // namespace

int findListeningSocket(uint16_t localPort) {
    return scanProcFds(0, [&](int fd) {
        sockaddr_storage ss{};
        socklen_t len = sizeof ss;
        Endpoint local;
        int listening = 0;
        socklen_t optLen = sizeof listening;
        return ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0 && toEndpoint(ss, local) &&
               local.port == localPort &&
               ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optLen) == 0 && listening;
    });
}

namespace {

// Every fd from 3 up (adopted ones skipped) until one matches; -1 if none.
int scanForSocket(uint16_t localPort, const Endpoint& peer) {
    std::vector<uint64_t> adopted;
    int highest;
    {
        // A copy (about 1 KiB per 10,000 fds), so no lock is held across the syscalls below.
        Registry& r = registry();
        std::lock_guard lock(r.mutex);
        adopted = r.bits;
        highest = r.highest;
    }
    const int cap = fdLimit();
    int limit = highest + kScanMargin;
    int fd = 3;
    // Increasing order: the kernel hands out the lowest free number, so a new connection is usually
    // in a gap low down, and the scan stops at the first match.
    for (; fd < std::min(limit, cap); ++fd) {
        size_t word = size_t(fd) / 64;
        if (fd % 64 == 0 && word < adopted.size() && adopted[word] == ~uint64_t(0)) {
            fd += 63;  // 64 adopted fds in a row
            continue;
        }
        if (testBit(adopted, fd)) continue;
        Probe p = probe(fd, localPort, peer);
        if (p == Probe::Free) continue;
        limit = std::max(limit, fd + kScanMargin);
        if (p == Probe::Match) return fd;
    }
    return scanProcFds(fd, localPort, peer, adopted);
}

// What this thread found last. A CivetWeb worker serves one connection's requests in turn, so
// the next request it asks about is most often on the same socket: two syscalls check it (the
// same test as the scan's) instead of one per fd below it.
struct LastFound {
    Endpoint peer;
    uint16_t localPort = 0;
    int fd = -1;
};
thread_local LastFound lastFound;

}  // namespace

int findSocket(uint16_t localPort, std::string_view peerAddr, uint16_t peerPort) {
    Endpoint peer;
    peer.port = peerPort;
    if (!parseAddress(peerAddr, peer.addr)) return -1;
    LastFound& last = lastFound;
    if (last.fd >= 0 && last.localPort == localPort && last.peer.port == peer.port &&
        std::memcmp(&last.peer.addr, &peer.addr, sizeof peer.addr) == 0 && !isAdopted(last.fd) &&
        probe(last.fd, localPort, peer) == Probe::Match)
        return last.fd;
    int fd = scanForSocket(localPort, peer);
    if (fd >= 0) last = LastFound{peer, localPort, fd};
    return fd;
}

bool adoptSocket(int fd) {
    if (fd < 0) return false;
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    size_t word = size_t(fd) / 64;
    if (word >= r.bits.size()) r.bits.resize(word + 1, 0);
    uint64_t bit = uint64_t(1) << (fd % 64);
    if (r.bits[word] & bit) return false;
    r.bits[word] |= bit;
    r.highest = std::max(r.highest, fd);
    return true;
}

void releaseSocket(int fd) {
    if (fd < 0) return;
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    size_t word = size_t(fd) / 64;
    if (word < r.bits.size()) r.bits[word] &= ~(uint64_t(1) << (fd % 64));
    if (fd == r.highest) {
        // Keeps scans short after the busiest moment has passed.
        while (r.highest > 2 && !testBit(r.bits, r.highest)) --r.highest;
    }
}

bool isAdopted(int fd) {
    if (fd < 0) return false;
    Registry& r = registry();
    std::lock_guard lock(r.mutex);
    return testBit(r.bits, fd);
}

AdoptedSocket::AdoptedSocket(int fd) : fd_(adoptSocket(fd) ? fd : -1) {}

AdoptedSocket::~AdoptedSocket() {
    reset();
}

AdoptedSocket::AdoptedSocket(AdoptedSocket&& other) noexcept : fd_(other.fd_) {
    other.fd_ = -1;
}

AdoptedSocket& AdoptedSocket::operator=(AdoptedSocket&& other) noexcept {
    if (this != &other) {
        reset();
        fd_ = other.fd_;
        other.fd_ = -1;
    }
    return *this;
}

AdoptedSocket AdoptedSocket::find(uint16_t localPort, std::string_view peerAddr, uint16_t peerPort) {
    // Another thread can adopt only a socket it matched, and each connection has its own peer
    // address and port; so a lost race means the fd was closed and reused: look again, once.
    for (int attempt = 0; attempt < 2; ++attempt) {
        int fd = findSocket(localPort, peerAddr, peerPort);
        if (fd < 0) return {};
        AdoptedSocket socket(fd);
        if (socket.valid()) return socket;
    }
    return {};
}

void AdoptedSocket::reset() {
    if (fd_ >= 0) releaseSocket(fd_);
    fd_ = -1;
}

}  // namespace partyline::net
