#include "app/ConnectionPeer.h"

#include <civetweb.h>

#include <cstring>

namespace partyline {
namespace {

// The request info lies inside CivetWeb's connection, a few hundred bytes in: anything else is
// not the layout this code reads.
constexpr ptrdiff_t kMostPlausibleOffset = 4096;

}  // namespace

bool ConnectionPeer::learn(const mg_connection* conn) {
    const mg_request_info* ri = mg_get_request_info(conn);
    if (!ri) return false;
    ptrdiff_t offset = reinterpret_cast<const char*>(ri) - reinterpret_cast<const char*>(conn);
    if (offset < 0 || offset > kMostPlausibleOffset) return false;
    ptrdiff_t expected = kUnknown;
    return offset_.compare_exchange_strong(expected, offset) || expected == offset;
}

std::optional<Peer> ConnectionPeer::peerOf(const mg_connection* conn) const {
    ptrdiff_t offset = offset_.load();
    if (offset == kUnknown) return std::nullopt;
    const auto* ri = reinterpret_cast<const mg_request_info*>(reinterpret_cast<const char*>(conn) + offset);
    // remote_addr is a char array filled with a terminated numeric address; read it bounded.
    size_t length = strnlen(ri->remote_addr, sizeof ri->remote_addr);
    if (length == 0 || length == sizeof ri->remote_addr) return std::nullopt;
    return Peer{std::string(ri->remote_addr, length), uint16_t(ri->remote_port), uint16_t(ri->server_port)};
}

}  // namespace partyline
