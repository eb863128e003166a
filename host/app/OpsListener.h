// OpsListener: a second, small listener (ops_listen) for /healthz, /readyz and /metrics, with a
// CivetWeb context and workers of its own, so probes and scrapes are answered while clients hold
// every worker of the main listener. CivetWeb cannot keep workers aside for some requests: a
// connection waits in its queue for any free worker, whatever it will ask.
//
// Meant for the orchestrator's and the scraper's network, not for clients: its few workers
// answer one request each and close (no keep-alive), and a head must arrive within
// limits.header_timeout_ms as on the main listener.
// Must not: serve rooms, pages or the /v1/ API; the handler decides what each request gets.
//
// Threads: the handler runs on this listener's own CivetWeb workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/Status.h"

struct mg_context;
struct mg_connection;

namespace partyline {

class OpsListener {
   public:
    // Answers one request and returns its status.
    using Handler = std::function<int(mg_connection*)>;

    // Listens on "host:port" (port 0 picks a free one).
    static Result<std::unique_ptr<OpsListener>> start(const std::string& listen,
                                                      std::chrono::milliseconds headerTimeout,
                                                      Handler handler);
    ~OpsListener();  // waits for the requests in progress, then closes the listener

    uint16_t port() const { return port_; }

   private:
    explicit OpsListener(Handler handler) : handler_(std::move(handler)) {}
    static int dispatch(mg_connection* conn, void* self);

    Handler handler_;
    mg_context* ctx_ = nullptr;
    uint16_t port_ = 0;
};

}  // namespace partyline
