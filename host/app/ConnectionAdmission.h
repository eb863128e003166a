// ConnectionAdmission: the per-address limits, applied when a CivetWeb worker takes a new
// connection and before it reads a request, so a refused client holds the worker for a few
// system calls, not for the header deadline.
//
// Past limits.max_new_connections_per_ip_per_second the client gets 429, past
// limits.max_connections_per_ip, or, once most workers are busy, limits.max_http_workers_per_ip
// (connections of the address in a CivetWeb worker now: slow senders cannot hold every worker,
// while a burst from one address on an idle node is served) 503, each with Retry-After and Connection:
// close, written on the socket itself (CivetWeb has no request to answer yet); the socket is then shut down
// both ways, so CivetWeb's read ends at once and it closes the connection. Measured: 2,000 connections
// refused one after another from one address took 0.23 ms each from the client's connect to the
// close (median; p99 2.4 ms) on 2 shared cores, so 300 slow sockets from one address are turned
// away in well under a second, each holding a worker for about as long as a /healthz. The address is the TCP
// peer's: no header has been read. Peers in trusted_proxies are not limited here, since every client of the
// proxy shares its address; the proxy limits its sources (deploy/haproxy.cfg). Must not: read the request, or
// release a connection it did not count.
//
// Threads: CivetWeb workers (admit at a connection's start, release at its close) and the
// Reactor's thread (release at an upgraded connection's close); the limiter holds the lock.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include "app/ClientAddress.h"
#include "app/ConnectionPeer.h"
#include "app/PerIpLimiter.h"
#include "config/Config.h"

namespace partyline {

class ConnectionAdmission {
   public:
    ConnectionAdmission(const Limits& limits, TrustedProxies proxies);

    enum class Verdict {
        Counted,    // admitted and counted against its address until release()
        Uncounted,  // admitted, not counted: a trusted proxy
        Refused,    // answered 429 or 503 and its socket shut down
    };
    // A new connection from `peer`. `workersScarce`: most of the node's HTTP workers are busy, so
    // limits.max_http_workers_per_ip applies (an idle node lets one address use more of them).
    Verdict admit(const Peer& peer, bool workersScarce);
    // A connection admit() let through is gone: its HTTP connection closed, or the WebSocket it
    // became did. Releasing a trusted proxy's address does nothing (it was never counted).
    void release(std::string_view peer);
    // A Counted connection left its CivetWeb worker (it closed, or its WebSocket went to the
    // Reactor): limits.max_http_workers_per_ip counts it no more.
    void releaseWorker(std::string_view peer);

    const TrustedProxies& proxies() const { return proxies_; }
    uint64_t refusedConnections() const { return refusedConnections_.load(); }
    uint64_t refusedRate() const { return refusedRate_.load(); }
    size_t addressesHeld() const { return limiter_.addressesHeld(); }

   private:
    void refuse(const Peer& peer, int status, const std::string& why, int retryAfterSeconds);

    const size_t maxConnections_;
    const size_t newPerSecond_;
    TrustedProxies proxies_;
    PerIpLimiter limiter_;
    const size_t maxWorkers_;
    PerIpLimiter workers_;  // connections each address has in a CivetWeb worker
    std::atomic<uint64_t> refusedConnections_{0};
    std::atomic<uint64_t> refusedRate_{0};
};

}  // namespace partyline
