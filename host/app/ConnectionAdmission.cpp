#include "app/ConnectionAdmission.h"

#include <sys/socket.h>

#include "app/HttpIo.h"
#include "core/Log.h"
#include "net/SocketLocator.h"

namespace partyline {

ConnectionAdmission::ConnectionAdmission(const Limits& limits, TrustedProxies proxies)
    : maxConnections_(limits.max_connections_per_ip),
      newPerSecond_(limits.max_new_connections_per_ip_per_second),
      proxies_(std::move(proxies)),
      limiter_(limits.max_connections_per_ip, limits.max_new_connections_per_ip_per_second),
      maxWorkers_(limits.max_http_workers_per_ip),
      workers_(0, 0) {}

ConnectionAdmission::Verdict ConnectionAdmission::admit(const Peer& peer, bool workersScarce) {
    if (proxies_.contains(peer.address)) return Verdict::Uncounted;
    switch (limiter_.admit(peer.address, PerIpLimiter::Clock::now())) {
        case PerIpLimiter::Verdict::Admitted:
            workers_.admit(peer.address, PerIpLimiter::Clock::now());  // counted: workers_ has no cap
            if (!workersScarce || maxWorkers_ == 0 || workers_.connectionsOf(peer.address) <= maxWorkers_)
                return Verdict::Counted;
            workers_.release(peer.address);
            limiter_.release(peer.address);
            refusedConnections_++;
            refuse(peer, 503,
                   "this address holds " + std::to_string(maxWorkers_) +
                       " of the node's HTTP workers already (limits.max_http_workers_per_ip)",
                   kRetryAfterAtLimit);
            return Verdict::Refused;
        case PerIpLimiter::Verdict::TooFast:
            refusedRate_++;
            refuse(peer, 429,
                   "more than " + std::to_string(newPerSecond_) +
                       " new connections per second from this address "
                       "(limits.max_new_connections_per_ip_per_second)",
                   1);
            return Verdict::Refused;
        case PerIpLimiter::Verdict::TooManyConnections:
            refusedConnections_++;
            refuse(peer, 503,
                   "this address holds " + std::to_string(maxConnections_) +
                       " connections already (limits.max_connections_per_ip)",
                   kRetryAfterAtLimit);
            return Verdict::Refused;
    }
    return Verdict::Refused;
}

void ConnectionAdmission::release(std::string_view peer) {
    limiter_.release(peer);
}

void ConnectionAdmission::releaseWorker(std::string_view peer) {
    workers_.release(peer);
}

void ConnectionAdmission::refuse(const Peer& peer, int status, const std::string& why,
                                 int retryAfterSeconds) {
    int fd = net::findSocket(peer.localPort, peer.address, peer.port);
    if (fd < 0) {
        log::error("http", "cannot find the socket of a refused connection", {{"peer", peer.address}});
        return;
    }
    // At debug level only: a client refused in a loop would otherwise write the log full.
    log::debug("http", "connection refused: " + why,
               {{"peer", peer.address}, {"status", std::to_string(status)}});
    HttpResponse answer = HttpResponse::text(status, why + "\n");
    answer.headers.emplace_back("Retry-After", std::to_string(retryAfterSeconds));
    std::string out = encodeResponse(answer, false);
    // The socket is CivetWeb's and blocking; the answer fits any send buffer, so it never waits.
    ssize_t sent = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)sent;
    // What the client sent already is read and dropped, so the close that follows is a FIN, not
    // a reset that could discard the answer before the client reads it. Bounded: a few reads.
    char discard[4096];
    for (int i = 0; i < 8 && ::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {
    }
    shutdown(fd, SHUT_RDWR);
}

}  // namespace partyline
