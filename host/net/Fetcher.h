// Fetcher: the node's outgoing HTTP calls (a room's fetch), all on one I/O thread.
//
// libcurl's multi interface drives every call of the node on the Fetcher's own thread
// (curl_multi_poll, woken by curl_multi_wakeup when a call is handed over), so 1,000 calls in
// flight cost 1,000 sockets, not 1,000 threads. (libcurl's threaded resolver still starts a
// short-lived thread per name it resolves; an address literal needs none.) Every URL, and every
// redirect hop, passes the FetchPolicy (or the call's own in its place, and the call's narrower one, if any)
// by name before it is sent and by address inside libcurl's connection path; redirects are followed here,
// never by libcurl. The limits of one call are FetchLimits: one deadline over the whole call (queueing,
// redirects and a slow-drip body included), a cap on the bytes answered, a cap on the calls in flight.
//
// Must not: block its thread, follow a redirect or connect anywhere unchecked, use a proxy from
// the environment, raise signals, or call into Lua: `done` copies and posts.
#pragma once

#include <curl/curl.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/Histogram.h"
#include "core/Status.h"
#include "net/FetchPolicy.h"

namespace partyline {
class Metrics;
}

namespace partyline::net {

// The `fetch` configuration (wired from fetch.allow, fetch.timeout_ms, ... by the configuration).
struct FetchLimits {
    // Hosts a call may reach (see FetchPolicy). Empty: none, so a script cannot reach the network
    // until the operator says where.
    std::vector<std::string> allow;
    // Default and maximum per call, redirects and body included: no backend holds a room longer.
    int timeout_ms = 10000;
    // The body of one answer (its headers are capped apart, at 64 KiB): a room's state or a
    // session check, not a download.
    size_t max_response_bytes = 1024 * 1024;
    // A request body; the node's limits.max_message_bytes, as a script cannot send more anyway.
    size_t max_request_bytes = 1024 * 1024;
    // Per node. Past it a call fails at once with "busy" rather than queueing behind a slow backend.
    size_t max_in_flight = 1000;
    // Each hop is checked against allow again; 3 covers http→https and a moved path.
    int max_redirects = 3;
    // A PEM bundle for a private CA (CURLOPT_CAINFO, in place of the system's bundle file; Debian's
    // libcurl still reads the system's CA directory, /etc/ssl/certs). Empty: the system's store.
    std::string ca_file;
};

struct FetchRequest {
    std::string url;
    std::string method = "GET";  // a token; empty means GET
    // Names are tokens, values hold no CR, LF or NUL, and none frames the message (Content-Length,
    // Transfer-Encoding, Connection, Upgrade, TE, Trailer, Keep-Alive): libcurl writes those.
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    int timeout_ms = 0;  // 0: FetchLimits::timeout_ms; never more than it
    // A second list the call must pass as well, by name at every hop and by address (a party's
    // parties.X.fetch.allow), so it can narrow the Fetcher's list and never widen it. Null: the
    // Fetcher's list alone.
    std::shared_ptr<const FetchPolicy> narrow;
    // A list used in place of the Fetcher's, by name and by address: the operator's own target
    // (FetchPolicy::exactly of a party's webhook URL), which fetch.allow need not list. Never set
    // from a script's call. Null: the Fetcher's list.
    std::shared_ptr<const FetchPolicy> instead;
};

struct FetchResponse {
    int status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // in order; names in lower case
    std::string body;
};

// How a call ended, for partyline_fetch_total{status}.
enum class FetchOutcome {
    Ok,          // an answer, whatever its HTTP status
    Timeout,     // "timeout"
    NotAllowed,  // "not allowed: host ...", by name or by address
    Connect,     // "connect: ...": resolution, connection, or the peer closed mid-answer
    Tls,         // "tls: ...": handshake or certificate
    TooLarge,    // "too large": the answer, or the request body
    Busy,        // "busy": max_in_flight calls were in flight
    BadRequest,  // "bad url", "bad header", "bad method"
    Redirects,   // "too many redirects": more than max_redirects hops
    Stopped,     // "stopped": the Fetcher was destroyed first
};
inline constexpr size_t kFetchOutcomes = 10;

class Fetcher {
   public:
    // Runs on the Fetcher's thread, exactly once per call, and must only copy the result and post
    // it to the caller's own thread: it must not block or call into Lua. It may call fetch.
    using Done = std::function<void(Result<FetchResponse>)>;

    explicit Fetcher(FetchLimits limits);
    // Ends every call still pending with "stopped" (done runs on the Fetcher's thread), then joins.
    ~Fetcher();
    Fetcher(const Fetcher&) = delete;
    Fetcher& operator=(const Fetcher&) = delete;

    // Any thread. Starts a call; `done` gets the answer or the error (Status messages: "timeout",
    // "not allowed: host <host>", "connect: <detail>", "tls: <detail>", "too large", "busy",
    // "bad url", "bad header", "bad method", "too many redirects"). A call refused before it
    // starts (bad input, busy) is answered on the Fetcher's thread too, never inside this call;
    // only a call made while the destructor runs is answered "stopped" in place.
    void fetch(FetchRequest request, Done done);

    // Any thread: the metrics.
    size_t inFlight() const { return inFlight_.load(std::memory_order_relaxed); }
    uint64_t total(FetchOutcome outcome) const;
    // Durations of the calls that were admitted (not refused at once), from fetch to done.
    const Histogram& seconds() const { return seconds_; }
    static const char* outcomeName(FetchOutcome outcome);  // "ok", "timeout", "not_allowed", ...
    // Any thread: partyline_fetch_total{status}, partyline_fetch_seconds, partyline_fetch_in_flight.
    void writeMetrics(Metrics& out) const;

    const FetchLimits& limits() const { return limits_; }

   private:
    struct Transfer;
    struct CurlMultiDeleter {
        void operator()(CURLM* multi) const { curl_multi_cleanup(multi); }
    };
    using Clock = std::chrono::steady_clock;

    Status validate(const FetchRequest& request) const;
    Result<FetchTarget> checkTarget(const FetchRequest& request, std::string_view url) const;
    void run();
    void takeQueued();
    void startHop(Transfer& t);
    void finishHop(CURL* easy, CURLcode code);
    bool followRedirect(Transfer& t, long status);
    void complete(CURL* easy, FetchOutcome outcome, Result<FetchResponse> result);
    void answer(Transfer& t, FetchOutcome outcome, Result<FetchResponse> result);
    void stopAll();

    const FetchLimits limits_;
    const FetchPolicy policy_;
    std::atomic<size_t> inFlight_{0};
    std::array<std::atomic<uint64_t>, kFetchOutcomes> totals_{};
    Histogram seconds_;

    std::unique_ptr<CURLM, CurlMultiDeleter> multi_;
    std::mutex mutex_;                               // guards queued_, stopping_, closed_
    std::vector<std::unique_ptr<Transfer>> queued_;  // handed over, not yet started
    bool stopping_ = false;
    bool closed_ = false;                                          // the thread takes nothing more
    std::unordered_map<CURL*, std::unique_ptr<Transfer>> active_;  // Fetcher thread only
    std::thread thread_;
};

}  // namespace partyline::net
