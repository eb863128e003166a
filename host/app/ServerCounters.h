// ServerCounters: the HTTP server's counts, shared by the parts that change them: CivetWeb's
// connection callbacks, the WebSocket upgrade and the sessions it hands to the Reactor.
//
// Provides the counts, their metrics' sources, and the one rule of limits.max_connections, which
// counts WebSockets and HTTP connections together. Must not: answer or refuse anything itself.
//
// Threads: any (atomics). A WebSocket is counted from its admission until its session closed.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace partyline {

struct ServerCounters {
    std::atomic<size_t> webSockets{0};  // admitted upgrades and open WebSockets
    std::atomic<size_t> http{0};        // HTTP connections a CivetWeb worker holds
    std::atomic<uint64_t> requests{0};
    std::atomic<uint64_t> messagesIn{0};  // WebSocket messages read
    std::atomic<uint64_t> refused{0};     // answered 503 at the connection limit or while draining
    std::atomic<size_t> muxRooms{0};      // rooms joined over partyline.mux.v1 sockets, all of them
    // The per-address limits (set by HttpServer before it starts). countedPeer: on a worker, the
    // address its connection is counted against (empty: not counted), which an upgrade hands to
    // its WebSocket; releasePeer gives it back at the WebSocket's close (an HTTP connection's is
    // given back at the connection's close).
    std::function<std::string()> countedPeer;
    std::function<void(std::string_view peer)> releasePeer;

    // Connections other than the caller's own HTTP connection are at `max`.
    bool atLimit(size_t max) const {
        size_t held = http.load();
        return webSockets.load() + (held > 0 ? held - 1 : 0) >= max;
    }
    // Counts one more WebSocket, checked with it counted, for upgrades racing each other to the
    // last slot. False (and nothing counted) when that is past `max`.
    bool admitWebSocket(size_t max) {
        size_t held = http.load();
        if (webSockets.fetch_add(1) + (held > 0 ? held - 1 : 0) >= max) {
            webSockets--;
            return false;
        }
        return true;
    }
};

}  // namespace partyline
