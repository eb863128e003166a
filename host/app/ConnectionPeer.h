// ConnectionPeer: the peer of a connection a CivetWeb worker has just taken, before it reads a
// request, for the per-address limits (ConnectionAdmission).
//
// CivetWeb 1.15 writes the peer's address and port into the connection's request info before it
// calls init_connection, but mg_get_request_info() answers nullptr until a request was read.
// The request info is a member of CivetWeb's connection, at an offset fixed when the library was
// built: learn() takes it from a request, where both addresses are known, and every later
// learn() checks that it did not move. Until one request was seen, peerOf() knows nothing, so
// HttpServer makes one to itself at start.
// Must not: read a connection before the offset is known, or write to it.
//
// Threads: any; the offset is an atomic, learned once.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

struct mg_connection;

namespace partyline {

struct Peer {
    std::string address;  // numeric, as CivetWeb writes remote_addr
    uint16_t port = 0;
    uint16_t localPort = 0;  // the listener's port
};

class ConnectionPeer {
   public:
    // A request's connection (mg_get_request_info() answers): learns or checks the offset. False
    // when it differs from the one learned before (a CivetWeb this code does not know).
    bool learn(const mg_connection* conn);
    // The peer of a connection that has no request yet; nothing until learn() succeeded.
    std::optional<Peer> peerOf(const mg_connection* conn) const;
    bool known() const { return offset_.load() != kUnknown; }

   private:
    static constexpr ptrdiff_t kUnknown = -1;
    std::atomic<ptrdiff_t> offset_{kUnknown};
};

}  // namespace partyline
