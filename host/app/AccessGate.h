// AccessGate: the HTTP layer's doorman. Before a request reaches the control API or a room it
// asks ControlAccess (who may call /v1/... and /metrics) and OriginPolicy (which web pages may
// reach a room), answers the refusals (401 with WWW-Authenticate, 403) and CORS preflights for
// room HTTP from listed origins, and says which origin a room's answer must carry CORS for.
// Must not: read a request body, call into a room, or log a key or a token.
//
// Threads: CivetWeb workers; the counters are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "app/ClientAddress.h"
#include "app/ControlAccess.h"
#include "app/OriginPolicy.h"
#include "rooms/Http.h"

struct mg_connection;
struct mg_request_info;

namespace partyline {

class AccessGate {
   public:
    // `proxies`: whose X-Forwarded-For names the client the loopback rule looks at.
    AccessGate(std::vector<std::string> apiKeys, bool insecure, std::vector<std::string> origins,
               TrustedProxies proxies = {});

    // The control surface: nullopt when the request may go on, else the status it was answered.
    std::optional<int> refuseControl(mg_connection* conn, const mg_request_info* ri);

    struct RoomAdmission {
        std::optional<int> answered;  // refused (403), or a preflight answered (204)
        std::string corsOrigin;       // non-empty: the room's answer carries CORS for it
    };
    // A room's WebSocket upgrade or HTTP request.
    RoomAdmission admitRoom(mg_connection* conn, const mg_request_info* ri);

    // Adds the CORS headers for `origin` (from admitRoom) to a room's answer.
    static void addCors(HttpResponse& response, const std::string& origin);

    const ControlAccess& control() const { return control_; }
    uint64_t controlRefusals() const { return controlRefused_.load(); }
    uint64_t originRefusals() const { return originRefused_.load(); }

   private:
    ControlAccess control_;
    OriginPolicy origins_;
    TrustedProxies proxies_;
    std::atomic<uint64_t> controlRefused_{0};
    std::atomic<uint64_t> originRefused_{0};
};

}  // namespace partyline
