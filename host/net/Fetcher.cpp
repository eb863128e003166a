#include "net/Fetcher.h"

#include <sys/socket.h>

#include <algorithm>
#include <mutex>

#include "core/Log.h"
#include "core/Metrics.h"
#include "core/ThreadName.h"

namespace partyline::net {
namespace {

// The loop sleeps at most this long when libcurl has no timer due and nothing was handed over.
constexpr int kPollMs = 1000;
// Response headers of one hop: far more than any backend sends, a guard against an endless stream.
constexpr size_t kMaxResponseHeaderBytes = 64 * 1024;
// Request headers of one call, names and values.
constexpr size_t kMaxRequestHeaderBytes = 64 * 1024;
constexpr size_t kMaxMethodBytes = 32;

// Headers that frame the message on the connection: libcurl writes them, a script must not
// (a wrong Content-Length would smuggle a second request to the backend).
constexpr std::string_view kFramingHeaders[] = {
    "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer", "keep-alive"};
// Credentials that must not follow a redirect to another host, scheme or port.
constexpr std::string_view kCredentialHeaders[] = {"authorization", "cookie", "proxy-authorization"};

struct CurlEasyDeleter {
    void operator()(CURL* easy) const { curl_easy_cleanup(easy); }
};
struct CurlSlistDeleter {
    void operator()(curl_slist* list) const { curl_slist_free_all(list); }
};

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

// RFC 9110 token characters.
bool isToken(std::string_view text) {
    if (text.empty()) return false;
    for (unsigned char c : text) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  std::string_view("!#$%&'*+-.^_`|~").find(char(c)) != std::string_view::npos;
        if (!ok) return false;
    }
    return true;
}

template <size_t N>
bool listedIn(const std::string& name, const std::string_view (&names)[N]) {
    return std::find(std::begin(names), std::end(names), name) != std::end(names);
}

bool isTlsError(CURLcode code) {
    switch (code) {
        case CURLE_SSL_CONNECT_ERROR:
        case CURLE_PEER_FAILED_VERIFICATION:
        case CURLE_SSL_CERTPROBLEM:
        case CURLE_SSL_CIPHER:
        case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_ISSUER_ERROR:
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
        case CURLE_SSL_INVALIDCERTSTATUS:
        case CURLE_SSL_ENGINE_INITFAILED:
        case CURLE_SSL_CRL_BADFILE:
        case CURLE_SSL_CLIENTCERT:
            return true;
        default:
            return false;
    }
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() &&
           (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' || text.back() == '\n'))
        text.remove_suffix(1);
    return text;
}

void initCurlOnce() {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

// One call, on the Fetcher's thread once handed over. The easy handle is declared after what it
// points into (headers, body, target, error buffer), so it is cleaned up first.
struct Fetcher::Transfer {
    FetchRequest request;
    Done done;
    FetchTarget target;
    Clock::time_point start;
    Clock::time_point deadline;
    Status refused;  // not ok when the call is answered without starting: bad input or busy
    FetchOutcome refusedOutcome = FetchOutcome::Ok;
    bool admitted() const { return refused.isOk(); }
    const FetchPolicy* policy = nullptr;
    const FetchLimits* limits = nullptr;
    int hops = 0;  // redirects followed
    FetchResponse response;
    size_t headerBytes = 0;
    bool tooLarge = false;
    bool addressRefused = false;
    char error[CURL_ERROR_SIZE] = {};
    std::unique_ptr<curl_slist, CurlSlistDeleter> headers;
    std::unique_ptr<CURL, CurlEasyDeleter> easy;

    // libcurl's open-socket callback: the resolved address, just before connect.
    static curl_socket_t openSocket(void* data, curlsocktype, curl_sockaddr* address) {
        auto& t = *static_cast<Transfer*>(data);
        const FetchPolicy* narrow = t.request.narrow.get();
        if (!t.policy->allowsAddress(t.target, &address->addr) ||
            (narrow && !narrow->allowsAddress(t.target, &address->addr))) {
            t.addressRefused = true;
            return CURL_SOCKET_BAD;
        }
        return ::socket(address->family, address->socktype | SOCK_CLOEXEC, address->protocol);
    }

    // libcurl's write callback. Past the limit it takes what fits and returns short, which ends the
    // transfer with CURLE_WRITE_ERROR.
    static size_t onBody(char* data, size_t, size_t size, void* user) {
        auto& t = *static_cast<Transfer*>(user);
        size_t room =
            t.limits->max_response_bytes - std::min(t.limits->max_response_bytes, t.response.body.size());
        if (size > room) {
            t.response.body.append(data, room);
            t.tooLarge = true;
            return room;
        }
        t.response.body.append(data, size);
        return size;
    }

    // libcurl's header callback, one line at a time. A status line starts a new answer (an interim
    // 100, or the next hop), so only the last answer's headers are kept.
    static size_t onHeader(char* data, size_t, size_t size, void* user) {
        auto& t = *static_cast<Transfer*>(user);
        t.headerBytes += size;
        if (t.headerBytes > kMaxResponseHeaderBytes) {
            t.tooLarge = true;
            return 0;
        }
        std::string_view line(data, size);
        auto& headers = t.response.headers;
        if (line.starts_with("HTTP/")) {
            headers.clear();
        } else if (!line.empty() && (line.front() == ' ' || line.front() == '\t')) {
            if (!headers.empty()) headers.back().second += " " + std::string(trim(line));  // obsolete folding
        } else if (size_t colon = line.find(':'); colon != std::string_view::npos) {
            headers.emplace_back(lower(trim(line.substr(0, colon))),
                                 std::string(trim(line.substr(colon + 1))));
        }
        return size;
    }
};

Fetcher::Fetcher(FetchLimits limits) : limits_(std::move(limits)), policy_(limits_.allow) {
    initCurlOnce();
    multi_.reset(curl_multi_init());
    thread_ = std::thread([this] {
        nameThisThread("pl-fetch");
        run();
    });
}

Fetcher::~Fetcher() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    curl_multi_wakeup(multi_.get());
    thread_.join();
}

uint64_t Fetcher::total(FetchOutcome outcome) const {
    return totals_[size_t(outcome)].load(std::memory_order_relaxed);
}

const char* Fetcher::outcomeName(FetchOutcome outcome) {
    // In the order of FetchOutcome.
    static constexpr const char* kNames[kFetchOutcomes] = {
        "ok",   "timeout",     "not_allowed",        "connect", "tls", "too_large",
        "busy", "bad_request", "too_many_redirects", "stopped"};
    return kNames[size_t(outcome)];
}

void Fetcher::writeMetrics(Metrics& out) const {
    for (size_t i = 0; i < kFetchOutcomes; ++i) {
        auto outcome = FetchOutcome(i);
        out.counter("partyline_fetch_total",
                    "Outgoing HTTP calls (room scripts' fetch, webhook attempts), by how they ended.",
                    total(outcome), {{"status", outcomeName(outcome)}});
    }
    out.histogram("partyline_fetch_seconds",
                  "Outgoing HTTP calls that were started, from the call to its answer.", seconds_);
    out.gauge("partyline_fetch_in_flight", "Outgoing HTTP calls in flight on this node.", inFlight());
}

// The check by name against the Fetcher's list (or the call's own in its place), then the call's
// own narrower list.
Result<FetchTarget> Fetcher::checkTarget(const FetchRequest& request, std::string_view url) const {
    auto target = (request.instead ? *request.instead : policy_).check(url);
    if (target && request.narrow) {
        if (auto narrowed = request.narrow->check(url); !narrowed) return narrowed.status();
    }
    return target;
}

Status Fetcher::validate(const FetchRequest& request) const {
    if (!request.method.empty() && (request.method.size() > kMaxMethodBytes || !isToken(request.method)))
        return {Code::InvalidArgument, "bad method"};
    size_t bytes = 0;
    for (const auto& [name, value] : request.headers) {
        bytes += name.size() + value.size();
        if (!isToken(name) || listedIn(lower(name), kFramingHeaders) ||
            value.find_first_of(std::string_view("\r\n\0", 3)) != std::string::npos)
            return {Code::InvalidArgument, "bad header"};
    }
    if (bytes > kMaxRequestHeaderBytes) return {Code::InvalidArgument, "bad header"};
    if (request.body.size() > limits_.max_request_bytes) return {Code::TooLarge, "too large"};
    return Status::ok();
}

void Fetcher::fetch(FetchRequest request, Done done) {
    auto t = std::make_unique<Transfer>();
    t->start = Clock::now();
    int timeout =
        request.timeout_ms > 0 ? std::min(request.timeout_ms, limits_.timeout_ms) : limits_.timeout_ms;
    t->deadline = t->start + std::chrono::milliseconds(timeout);
    t->policy = request.instead ? request.instead.get() : &policy_;
    t->limits = &limits_;
    t->done = std::move(done);
    if (Status s = validate(request); !s) {
        t->refused = s;
        t->refusedOutcome = s.code() == Code::TooLarge ? FetchOutcome::TooLarge : FetchOutcome::BadRequest;
    } else if (auto target = checkTarget(request, request.url); !target) {
        t->refused = target.status();
        t->refusedOutcome =
            target.status().message() == "bad url" ? FetchOutcome::BadRequest : FetchOutcome::NotAllowed;
    } else if (inFlight_.fetch_add(1, std::memory_order_relaxed) >= limits_.max_in_flight) {
        inFlight_.fetch_sub(1, std::memory_order_relaxed);
        t->refused = Status(Code::ResourceExhausted, "busy");
        t->refusedOutcome = FetchOutcome::Busy;
    } else {
        t->target = std::move(target.value());
    }
    t->request = std::move(request);
    {
        std::lock_guard lock(mutex_);
        if (!closed_) {
            queued_.push_back(std::move(t));
            t = nullptr;
        }
    }
    if (t) {
        answer(*t, FetchOutcome::Stopped, Status(Code::Unavailable, "stopped"));
        return;
    }
    curl_multi_wakeup(multi_.get());
}

void Fetcher::run() {
    for (;;) {
        {
            std::lock_guard lock(mutex_);
            if (stopping_) break;
        }
        takeQueued();
        int running = 0;
        curl_multi_perform(multi_.get(), &running);
        int left = 0;
        while (CURLMsg* message = curl_multi_info_read(multi_.get(), &left)) {
            if (message->msg == CURLMSG_DONE) finishHop(message->easy_handle, message->data.result);
        }
        curl_multi_poll(multi_.get(), nullptr, 0, kPollMs, nullptr);
    }
    stopAll();
}

void Fetcher::takeQueued() {
    std::vector<std::unique_ptr<Transfer>> taken;
    {
        std::lock_guard lock(mutex_);
        taken.swap(queued_);
    }
    for (auto& t : taken) {
        if (!t->admitted()) {
            answer(*t, t->refusedOutcome, t->refused);
            continue;
        }
        t->easy.reset(curl_easy_init());
        CURL* easy = t->easy.get();
        active_.emplace(easy, std::move(t));
        startHop(*active_[easy]);
    }
}

// Sets every option of one hop on the (reset) easy handle and adds it to the multi handle.
void Fetcher::startHop(Transfer& t) {
    CURL* easy = t.easy.get();
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(t.deadline - Clock::now()).count();
    if (left <= 0) return complete(easy, FetchOutcome::Timeout, Status(Code::Timeout, "timeout"));
    t.response = {};
    t.headerBytes = 0;
    t.error[0] = '\0';
    curl_easy_setopt(easy, CURLOPT_PRIVATE, &t);
    curl_easy_setopt(easy, CURLOPT_CURLU, t.target.url.get());
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_PROXY, "");  // never a proxy from http_proxy: it would hide the address
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, long(left));
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, &Transfer::openSocket);
    curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, &t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &Transfer::onBody);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &Transfer::onHeader);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(limits_.max_response_bytes));
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, t.error);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "partyline");
    if (!limits_.ca_file.empty()) curl_easy_setopt(easy, CURLOPT_CAINFO, limits_.ca_file.c_str());

    const std::string& method = t.request.method.empty() ? std::string("GET") : t.request.method;
    if (method == "HEAD") {
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    } else if (method != "GET" || !t.request.body.empty()) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(t.request.body.size()));
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t.request.body.data());
    }
    if (method != "GET" && method != "HEAD" && method != "POST")
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, method.c_str());
    else if (method == "GET" && !t.request.body.empty())
        curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "GET");

    // "Expect:" keeps libcurl from waiting for a 100 Continue before a large body; "Name;" is
    // libcurl's way to send a header with an empty value.
    curl_slist* list = curl_slist_append(nullptr, "Expect:");
    for (const auto& [name, value] : t.request.headers) {
        std::string line = value.empty() ? name + ";" : name + ": " + value;
        list = curl_slist_append(list, line.c_str());
    }
    t.headers.reset(list);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, list);
    curl_multi_add_handle(multi_.get(), easy);
}

void Fetcher::finishHop(CURL* easy, CURLcode code) {
    Transfer& t = *active_.at(easy);
    curl_multi_remove_handle(multi_.get(), easy);
    if (t.tooLarge || code == CURLE_FILESIZE_EXCEEDED)
        return complete(easy, FetchOutcome::TooLarge, Status(Code::TooLarge, "too large"));
    if (t.addressRefused)
        return complete(easy, FetchOutcome::NotAllowed,
                        Status(Code::InvalidArgument, "not allowed: host " + t.target.host));
    if (code == CURLE_OPERATION_TIMEDOUT)
        return complete(easy, FetchOutcome::Timeout, Status(Code::Timeout, "timeout"));
    std::string detail = t.error[0] ? t.error : curl_easy_strerror(code);
    if (isTlsError(code))
        return complete(easy, FetchOutcome::Tls, Status(Code::Unavailable, "tls: " + detail));
    if (code != CURLE_OK)
        return complete(easy, FetchOutcome::Connect, Status(Code::Unavailable, "connect: " + detail));
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    if (followRedirect(t, status)) return;
    t.response.status = int(status);
    complete(easy, FetchOutcome::Ok, std::move(t.response));
}

// A 301, 302, 303, 307 or 308 with a Location: checks the next URL against the policy and starts
// it. False when the answer is the final one; true when the call went on or was completed here.
bool Fetcher::followRedirect(Transfer& t, long status) {
    if (status != 301 && status != 302 && status != 303 && status != 307 && status != 308) return false;
    char* location = nullptr;
    if (curl_easy_getinfo(t.easy.get(), CURLINFO_REDIRECT_URL, &location) != CURLE_OK || !location)
        return false;
    CURL* easy = t.easy.get();
    if (t.hops >= limits_.max_redirects) {
        complete(easy, FetchOutcome::Redirects, Status(Code::InvalidArgument, "too many redirects"));
        return true;
    }
    auto next = checkTarget(t.request, location);
    if (!next) {
        bool bad = next.status().message() == "bad url";
        complete(easy, bad ? FetchOutcome::BadRequest : FetchOutcome::NotAllowed, next.status());
        return true;
    }
    // As browsers do: 303 turns into a GET, and so do 301 and 302 after a POST; 307 and 308 repeat.
    std::string& method = t.request.method;
    if ((status == 303 && method != "HEAD") || ((status == 301 || status == 302) && method == "POST")) {
        method = "GET";
        t.request.body.clear();
    }
    if (next->scheme != t.target.scheme || next->authority() != t.target.authority()) {
        std::erase_if(t.request.headers,
                      [](const auto& header) { return listedIn(lower(header.first), kCredentialHeaders); });
    }
    curl_easy_reset(easy);  // lets go of the previous hop's URL handle before it is replaced
    t.target = std::move(next.value());
    ++t.hops;
    startHop(t);
    return true;
}

// Ends an active call: the easy handle is out of the multi handle (or was never in it).
void Fetcher::complete(CURL* easy, FetchOutcome outcome, Result<FetchResponse> result) {
    auto node = active_.extract(easy);
    Transfer& t = *node.mapped();
    seconds_.observe(Clock::now() - t.start);
    inFlight_.fetch_sub(1, std::memory_order_relaxed);
    answer(t, outcome, std::move(result));
}

// The metrics go first, so whoever the answer wakes sees them counted and the slot free.
void Fetcher::answer(Transfer& t, FetchOutcome outcome, Result<FetchResponse> result) {
    totals_[size_t(outcome)].fetch_add(1, std::memory_order_relaxed);
    try {
        t.done(std::move(result));
    } catch (const std::exception& e) {
        log::error("fetch", "a fetch callback threw", {{"error", e.what()}});
    } catch (...) {
        log::error("fetch", "a fetch callback threw");
    }
}

// The thread's last act: every call still pending ends "stopped". A callback may call fetch
// again, so the queue is drained until it stays empty, and closed under the lock.
void Fetcher::stopAll() {
    const Status stopped(Code::Unavailable, "stopped");
    while (!active_.empty()) {
        CURL* easy = active_.begin()->first;
        curl_multi_remove_handle(multi_.get(), easy);
        complete(easy, FetchOutcome::Stopped, stopped);
    }
    for (;;) {
        std::vector<std::unique_ptr<Transfer>> taken;
        {
            std::lock_guard lock(mutex_);
            if (queued_.empty()) {
                closed_ = true;
                return;
            }
            taken.swap(queued_);
        }
        for (auto& t : taken) {
            if (!t->admitted()) {
                answer(*t, t->refusedOutcome, t->refused);
                continue;
            }
            inFlight_.fetch_sub(1, std::memory_order_relaxed);
            seconds_.observe(Clock::now() - t->start);
            answer(*t, FetchOutcome::Stopped, stopped);
        }
    }
}

}  // namespace partyline::net
