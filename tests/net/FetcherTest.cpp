// Fetcher against real HTTP servers on 127.0.0.1 port 0, started by each test (HttpTestServer):
// answers, request bodies, timeouts, slow drips, cut answers, redirects checked hop by hop, the
// address check, concurrency on one thread and the in-flight cap. Loopback only, so hermetic.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <string>
#include <vector>

#include "HttpTestServer.h"
#include "core/Metrics.h"
#include "net/Fetcher.h"

namespace partyline::net {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using test::HttpRequest;
using test::httpResponse;
using test::HttpTestServer;
using Exchange = HttpTestServer::Exchange;

std::string listed(const HttpTestServer& server) {
    return "127.0.0.1:" + std::to_string(server.port());
}

FetchLimits limitsFor(std::vector<std::string> allow) {
    FetchLimits limits;
    limits.allow = std::move(allow);
    limits.timeout_ms = 5000;
    return limits;
}

// Calls and waits for the answer, as a room's handler will (there through its shard).
Result<FetchResponse> fetchNow(Fetcher& fetcher, FetchRequest request) {
    std::promise<Result<FetchResponse>> promise;
    auto answer = promise.get_future();
    fetcher.fetch(std::move(request),
                  [&](Result<FetchResponse> result) { promise.set_value(std::move(result)); });
    return answer.get();
}

Result<FetchResponse> get(Fetcher& fetcher, const std::string& url, int timeoutMs = 0) {
    FetchRequest request;
    request.url = url;
    request.timeout_ms = timeoutMs;
    return fetchNow(fetcher, std::move(request));
}

std::string error(const Result<FetchResponse>& result) {
    return result.isOk() ? "ok " + std::to_string(result->status) : result.status().message();
}

const std::string* header(const FetchResponse& response, std::string_view name) {
    for (const auto& [n, v] : response.headers) {
        if (n == name) return &v;
    }
    return nullptr;
}

double secondsSince(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Counts calls answered, for tests that start many at once.
class Answers {
   public:
    void add(Result<FetchResponse> result) {
        std::lock_guard lock(mutex_);
        results_.push_back(std::move(result));
        changed_.notify_all();
    }
    bool waitFor(size_t count, std::chrono::milliseconds timeout = 15s) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return results_.size() >= count; });
    }
    std::vector<std::string> errors() {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& r : results_) out.push_back(error(r));
        return out;
    }

   private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<Result<FetchResponse>> results_;
};

}  // namespace

TEST_CASE("a 200 with its body and headers, names in lower case; the request's headers arrive") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) {
        ex.write(httpResponse(200, "hello",
                              "Content-Type: text/plain\r\nX-Custom:  Yes \r\nSet-Cookie: a=1\r\n"
                              "Set-Cookie: b=2\r\n"));
    });
    Fetcher fetcher(limitsFor({listed(server)}));
    FetchRequest request;
    request.url = server.url("/games/1?x=2");
    request.headers = {{"Authorization", "Bearer t"}, {"X-Empty", ""}};
    auto res = fetchNow(fetcher, std::move(request));
    REQUIRE(res.isOk());
    CHECK(res->status == 200);
    CHECK(res->body == "hello");
    REQUIRE(header(*res, "content-type"));
    CHECK(*header(*res, "content-type") == "text/plain");
    CHECK(*header(*res, "x-custom") == "Yes");
    int cookies = 0;
    for (const auto& [name, value] : res->headers) cookies += name == "set-cookie";
    CHECK(cookies == 2);
    HttpRequest seen = server.last();
    CHECK(seen.method == "GET");
    CHECK(seen.target == "/games/1?x=2");
    REQUIRE(seen.header("authorization"));
    CHECK(*seen.header("authorization") == "Bearer t");
    REQUIRE(seen.header("x-empty"));
    CHECK(seen.header("x-empty")->empty());
    CHECK(!seen.header("expect"));
    CHECK(fetcher.total(FetchOutcome::Ok) == 1);
    CHECK(fetcher.inFlight() == 0);
    CHECK(fetcher.seconds().count() == 1);
}

TEST_CASE("a POST, a PUT and a DELETE carry their method and body; HEAD reads no body") {
    HttpTestServer server([](const HttpRequest& r, Exchange& ex) {
        ex.write(httpResponse(201, r.method == "HEAD" ? "" : r.method + ":" + r.body));
    });
    Fetcher fetcher(limitsFor({listed(server)}));
    for (std::string method : {"POST", "PUT", "PATCH", "DELETE"}) {
        FetchRequest request;
        request.url = server.url("/save");
        request.method = method;
        request.headers = {{"content-type", "application/json"}};
        request.body = R"({"score":42})";
        auto res = fetchNow(fetcher, std::move(request));
        REQUIRE(res.isOk());
        CHECK(res->status == 201);
        CHECK(res->body == method + R"(:{"score":42})");
        CHECK(*server.last().header("content-type") == "application/json");
    }
    FetchRequest head;
    head.url = server.url("/");
    head.method = "HEAD";
    auto res = fetchNow(fetcher, std::move(head));
    REQUIRE(res.isOk());
    CHECK(server.last().method == "HEAD");
    FetchRequest big;
    big.url = server.url("/");
    big.method = "POST";
    big.body = std::string(900 * 1024, 'b');  // with Expect: 100-continue, libcurl would wait 1 s
    auto start = Clock::now();
    res = fetchNow(fetcher, std::move(big));
    REQUIRE(res.isOk());
    CHECK(res->body.size() == 5 + 900 * 1024);
    CHECK(secondsSince(start) < 1.0);
}

TEST_CASE("bad input is refused before anything is sent") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.write(httpResponse(200, "x")); });
    FetchLimits limits = limitsFor({listed(server)});
    limits.max_request_bytes = 1000;
    Fetcher fetcher(limits);
    auto with = [&](auto change) {
        FetchRequest request;
        request.url = server.url("/");
        change(request);
        return error(fetchNow(fetcher, std::move(request)));
    };
    CHECK(with([](FetchRequest& r) { r.url = "not a url"; }) == "bad url");
    CHECK(with([&](FetchRequest& r) { r.url = "ftp://" + listed(server) + "/"; }) == "bad url");
    CHECK(with([](FetchRequest& r) { r.url = "http://evil.example.com/"; }) ==
          "not allowed: host evil.example.com");
    CHECK(with([](FetchRequest& r) { r.headers = {{"x-a", "b\r\nSet-Cookie: c"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"x-a", "b\nc"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"x-a", std::string("b\0c", 3)}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"x a", "b"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"x-a\r\n", "b"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"", "b"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"x:y", "b"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"Content-Length", "5"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.headers = {{"transfer-encoding", "chunked"}}; }) == "bad header");
    CHECK(with([](FetchRequest& r) { r.method = "GET /x HTTP/1.1\r\n"; }) == "bad method");
    CHECK(with([](FetchRequest& r) { r.body = std::string(1001, 'x'); }) == "too large");
    CHECK(with([](FetchRequest& r) { r.body = std::string(1000, 'x'); }) == "ok 200");
    CHECK(server.requests() == 1);
    CHECK(fetcher.total(FetchOutcome::BadRequest) == 12);
    CHECK(fetcher.total(FetchOutcome::NotAllowed) == 1);
    CHECK(fetcher.total(FetchOutcome::TooLarge) == 1);
    CHECK(fetcher.seconds().count() == 1);  // only the call that was admitted
}

TEST_CASE("a server that never answers: timeout, after timeout_ms and not much later") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.waitForClose(); });
    Fetcher fetcher(limitsFor({listed(server)}));
    auto start = Clock::now();
    auto res = get(fetcher, server.url(), 300);
    double took = secondsSince(start);
    CHECK(error(res) == "timeout");
    CHECK(res.status().code() == Code::Timeout);
    CHECK(took >= 0.29);
    CHECK(took < 1.5);
    CHECK(fetcher.total(FetchOutcome::Timeout) == 1);
}

TEST_CASE("a call's timeout is capped at the limit") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.waitForClose(); });
    FetchLimits limits = limitsFor({listed(server)});
    limits.timeout_ms = 300;
    Fetcher fetcher(limits);
    auto start = Clock::now();
    CHECK(error(get(fetcher, server.url(), 60000)) == "timeout");
    CHECK(secondsSince(start) < 1.5);
}

TEST_CASE("a body dripped a byte at a time is cut by the timeout") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) {
        ex.write("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
        while (ex.write("x") && ex.sleep(50ms)) {
        }
    });
    Fetcher fetcher(limitsFor({listed(server)}));
    auto start = Clock::now();
    CHECK(error(get(fetcher, server.url(), 500)) == "timeout");
    double took = secondsSince(start);
    CHECK(took >= 0.49);
    CHECK(took < 1.5);
}

TEST_CASE("a 10 MiB answer is cut at max_response_bytes: too large, with or without Content-Length") {
    const std::string chunk(64 * 1024, 'z');
    HttpTestServer server([&](const HttpRequest& r, Exchange& ex) {
        bool declared = r.target == "/declared";
        ex.write(declared ? "HTTP/1.1 200 OK\r\nContent-Length: 10485760\r\n\r\n"
                          : "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
        for (int i = 0; i < 160; ++i) {
            if (!ex.write(chunk)) return;
        }
    });
    Fetcher fetcher(limitsFor({listed(server)}));
    auto res = get(fetcher, server.url("/declared"));
    CHECK(error(res) == "too large");
    CHECK(res.status().code() == Code::TooLarge);
    CHECK(error(get(fetcher, server.url("/streamed"))) == "too large");
    CHECK(fetcher.total(FetchOutcome::TooLarge) == 2);
}

TEST_CASE("an answer of exactly max_response_bytes is whole") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) {
        ex.write("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + std::string(4096, 'y'));
    });
    FetchLimits limits = limitsFor({listed(server)});
    limits.max_response_bytes = 4096;
    Fetcher fetcher(limits);
    auto res = get(fetcher, server.url());
    REQUIRE(res.isOk());
    CHECK(res->body.size() == 4096);
}

TEST_CASE("a peer that closes mid-body, or refuses the connection: connect") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) {
        ex.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly some");
    });
    uint16_t closedPort;
    {
        HttpTestServer gone([](const HttpRequest&, Exchange&) {});
        closedPort = gone.port();
    }
    std::string closed = "127.0.0.1:" + std::to_string(closedPort);
    Fetcher fetcher(limitsFor({listed(server), closed}));
    auto res = get(fetcher, server.url());
    CHECK(error(res).starts_with("connect: "));
    CHECK(res.status().code() == Code::Unavailable);
    CHECK(error(get(fetcher, "http://" + closed + "/")).starts_with("connect: "));
    CHECK(fetcher.total(FetchOutcome::Connect) == 2);
}

TEST_CASE("https to a server that speaks plain http fails in TLS") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.write(httpResponse(400, "plain")); },
                          false);
    Fetcher fetcher(limitsFor({listed(server)}));
    auto res = get(fetcher, "https://" + listed(server) + "/");
    CAPTURE(error(res));
    CHECK(error(res).starts_with("tls: "));
    CHECK(fetcher.total(FetchOutcome::Tls) == 1);
}

TEST_CASE("a redirect to a refused host is refused; to an allowed one it is followed") {
    HttpTestServer target(
        [](const HttpRequest& r, Exchange& ex) { ex.write(httpResponse(200, "at " + r.target)); });
    const std::string to = target.url("/landed");
    HttpTestServer server([&](const HttpRequest& r, Exchange& ex) {
        if (r.target == "/away") ex.write(httpResponse(302, "", "Location: http://evil.example.com/x\r\n"));
        if (r.target == "/loopback") ex.write(httpResponse(302, "", "Location: http://127.0.0.1:1/\r\n"));
        if (r.target == "/ftp")
            ex.write(httpResponse(301, "", "Location: ftp://" + listed(target) + "/\r\n"));
        if (r.target == "/other") ex.write(httpResponse(307, "", "Location: " + to + "\r\n"));
        if (r.target == "/relative") ex.write(httpResponse(301, "", "Location: /final?q=1\r\n"));
        if (r.target == "/final?q=1") ex.write(httpResponse(200, "final", "X-Hop: last\r\n"));
    });
    Fetcher fetcher(limitsFor({listed(server), listed(target)}));
    CHECK(error(get(fetcher, server.url("/away"))) == "not allowed: host evil.example.com");
    CHECK(error(get(fetcher, server.url("/loopback"))) == "not allowed: host 127.0.0.1");
    CHECK(error(get(fetcher, server.url("/ftp"))) == "bad url");
    CHECK(target.requests() == 0);
    auto res = get(fetcher, server.url("/other"));
    REQUIRE(res.isOk());
    CHECK(res->body == "at /landed");
    res = get(fetcher, server.url("/relative"));
    REQUIRE(res.isOk());
    CHECK(res->status == 200);
    CHECK(res->body == "final");
    CHECK(*header(*res, "x-hop") == "last");
    CHECK(!header(*res, "location"));  // the redirect's own headers are gone
}

TEST_CASE("at most max_redirects hops, each one a request") {
    HttpTestServer server([](const HttpRequest& r, Exchange& ex) {
        int n = std::stoi(r.target.substr(1));
        ex.write(httpResponse(302, "", "Location: /" + std::to_string(n + 1) + "\r\n"));
    });
    Fetcher fetcher(limitsFor({listed(server)}));
    CHECK(error(get(fetcher, server.url("/0"))) == "too many redirects");
    CHECK(server.requests() == 4);  // the call and its 3 redirects
    CHECK(fetcher.total(FetchOutcome::Redirects) == 1);
}

TEST_CASE("a redirect keeps one deadline: hops that each answer in time still time out together") {
    HttpTestServer server([](const HttpRequest& r, Exchange& ex) {
        ex.sleep(150ms);
        ex.write(httpResponse(302, "", "Location: " + r.target + "x\r\n"));
    });
    FetchLimits limits = limitsFor({listed(server)});
    limits.max_redirects = 10;
    Fetcher fetcher(limits);
    auto start = Clock::now();
    CHECK(error(get(fetcher, server.url("/"), 400)) == "timeout");
    CHECK(secondsSince(start) < 1.0);
}

TEST_CASE("redirects: 303 turns a POST into a GET, 307 repeats it; credentials stay on their host") {
    HttpTestServer other([](const HttpRequest& r, Exchange& ex) {
        ex.write(httpResponse(200, r.method + " auth=" + (r.header("authorization") ? "yes" : "no") +
                                       " cookie=" + (r.header("cookie") ? "yes" : "no") + " body=" + r.body));
    });
    HttpTestServer server([&](const HttpRequest& r, Exchange& ex) {
        if (r.target == "/see-other") ex.write(httpResponse(303, "", "Location: /echo\r\n"));
        if (r.target == "/temporary") ex.write(httpResponse(307, "", "Location: /echo\r\n"));
        if (r.target == "/elsewhere") ex.write(httpResponse(307, "", "Location: " + other.url("/") + "\r\n"));
        if (r.target == "/echo")
            ex.write(httpResponse(
                200, r.method + " auth=" + (r.header("authorization") ? "yes" : "no") + " body=" + r.body));
    });
    Fetcher fetcher(limitsFor({listed(server), listed(other)}));
    auto post = [&](const std::string& path) {
        FetchRequest request;
        request.url = server.url(path);
        request.method = "POST";
        request.body = "data";
        request.headers = {{"Authorization", "Bearer secret"}, {"Cookie", "s=1"}, {"X-Other", "kept"}};
        auto res = fetchNow(fetcher, std::move(request));
        return res.isOk() ? res->body : error(res);
    };
    CHECK(post("/see-other") == "GET auth=yes body=");
    CHECK(post("/temporary") == "POST auth=yes body=data");
    CHECK(post("/elsewhere") == "POST auth=no cookie=no body=data");
    CHECK(*other.last().header("x-other") == "kept");
}

TEST_CASE("a listed name that resolves to loopback is refused unless the address itself is listed") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.write(httpResponse(200, "local")); });
    const std::string port = std::to_string(server.port());
    {
        Fetcher fetcher(limitsFor({"localhost:" + port}));
        auto res = get(fetcher, "http://localhost:" + port + "/");
        CHECK(error(res) == "not allowed: host localhost");
        CHECK(server.requests() == 0);
        CHECK(fetcher.total(FetchOutcome::NotAllowed) == 1);
    }
    Fetcher fetcher(limitsFor({"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port}));
    auto res = get(fetcher, "http://localhost:" + port + "/");
    REQUIRE(res.isOk());
    CHECK(res->body == "local");
}

TEST_CASE("200 calls to a server answering each after 200 ms run at once on the one thread") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) {
        ex.sleep(200ms);
        ex.write(httpResponse(200, "late"));
    });
    Fetcher fetcher(limitsFor({listed(server)}));
    Answers answers;
    auto start = Clock::now();
    for (int i = 0; i < 200; ++i) {
        FetchRequest request;
        request.url = server.url("/" + std::to_string(i));
        fetcher.fetch(std::move(request), [&](Result<FetchResponse> r) { answers.add(std::move(r)); });
    }
    REQUIRE(answers.waitFor(200));
    double took = secondsSince(start);
    MESSAGE("200 concurrent fetches of a 200 ms backend took " << took << " s");
    CHECK(took < 10.0);  // one after the other would be 40 s
    for (const auto& e : answers.errors()) CHECK(e == "ok 200");
    CHECK(fetcher.total(FetchOutcome::Ok) == 200);
    CHECK(fetcher.inFlight() == 0);
}

TEST_CASE("past max_in_flight a call fails at once with busy, and the slot is free again after") {
    HttpTestServer server([](const HttpRequest& r, Exchange& ex) {
        if (r.target == "/slow") ex.sleep(500ms);
        ex.write(httpResponse(200, "ok"));
    });
    FetchLimits limits = limitsFor({listed(server)});
    limits.max_in_flight = 2;
    Fetcher fetcher(limits);
    Answers slow;
    for (int i = 0; i < 2; ++i) {
        FetchRequest request;
        request.url = server.url("/slow");
        fetcher.fetch(std::move(request), [&](Result<FetchResponse> r) { slow.add(std::move(r)); });
    }
    CHECK(fetcher.inFlight() == 2);
    auto start = Clock::now();
    auto busy = get(fetcher, server.url("/fast"));
    CHECK(error(busy) == "busy");
    CHECK(busy.status().code() == Code::ResourceExhausted);
    CHECK(secondsSince(start) < 0.2);
    REQUIRE(slow.waitFor(2));
    CHECK(error(get(fetcher, server.url("/fast"))) == "ok 200");
    CHECK(fetcher.total(FetchOutcome::Busy) == 1);
    CHECK(fetcher.total(FetchOutcome::Ok) == 3);
}

TEST_CASE("calls pending when the Fetcher goes end with stopped, on its thread") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.waitForClose(); });
    Answers answers;
    std::atomic<bool> onCaller{false};
    auto caller = std::this_thread::get_id();
    {
        Fetcher fetcher(limitsFor({listed(server)}));
        for (int i = 0; i < 5; ++i) {
            FetchRequest request;
            request.url = server.url();
            fetcher.fetch(std::move(request), [&](Result<FetchResponse> r) {
                if (std::this_thread::get_id() == caller) onCaller = true;
                answers.add(std::move(r));
            });
        }
        std::this_thread::sleep_for(100ms);
    }
    REQUIRE(answers.waitFor(5, 1s));
    for (const auto& e : answers.errors()) CHECK(e == "stopped");
    CHECK(!onCaller);
}

TEST_CASE("a refused call is answered on the Fetcher's thread, not inside fetch") {
    Fetcher fetcher(limitsFor({}));
    std::promise<std::thread::id> answeredOn;
    FetchRequest request;
    request.url = "http://nowhere.example.com/";
    fetcher.fetch(std::move(request),
                  [&](Result<FetchResponse>) { answeredOn.set_value(std::this_thread::get_id()); });
    CHECK(answeredOn.get_future().get() != std::this_thread::get_id());
}

TEST_CASE("a call's narrower list is checked too: by name, on each redirect, and by address") {
    HttpTestServer other([](const HttpRequest&, Exchange& ex) { ex.write(httpResponse(200, "other")); });
    HttpTestServer server([&](const HttpRequest& r, Exchange& ex) {
        if (r.target == "/hop")
            ex.write(httpResponse(302, "", "Location: " + other.url("/") + "\r\n"));
        else
            ex.write(httpResponse(200, "ok"));
    });
    const std::string port = std::to_string(server.port());
    Fetcher fetcher(limitsFor({listed(server), listed(other), "localhost:" + port, "127.0.0.1:" + port}));
    auto narrowed = [&](std::string url, std::vector<std::string> allow) {
        FetchRequest request;
        request.url = std::move(url);
        request.narrow = std::make_shared<const FetchPolicy>(allow);
        return fetchNow(fetcher, std::move(request));
    };
    CHECK(error(narrowed(server.url("/"), {listed(server)})) == "ok 200");
    CHECK(error(narrowed(other.url("/"), {listed(server)})) == "not allowed: host 127.0.0.1");
    CHECK(other.requests() == 0);
    // A redirect to a host the Fetcher allows but the call's list does not.
    CHECK(error(narrowed(server.url("/hop"), {listed(server)})) == "not allowed: host 127.0.0.1");
    CHECK(other.requests() == 0);
    CHECK(error(narrowed(server.url("/hop"), {listed(server), listed(other)})) == "ok 200");
    // localhost is listed by both, 127.0.0.1 by the Fetcher only: the address check refuses it.
    CHECK(error(narrowed("http://localhost:" + port + "/", {"localhost:" + port})) ==
          "not allowed: host localhost");
    // A narrower list can never widen the Fetcher's.
    CHECK(error(narrowed("http://127.0.0.1:1/", {"127.0.0.1:1"})) == "not allowed: host 127.0.0.1");
}

TEST_CASE("writeMetrics: every outcome counted by status, the durations and the calls in flight") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.write(httpResponse(200, "ok")); });
    Fetcher fetcher(limitsFor({listed(server)}));
    CHECK(error(get(fetcher, server.url("/"))) == "ok 200");
    CHECK(error(get(fetcher, "http://elsewhere.example.com/")) == "not allowed: host elsewhere.example.com");
    Metrics out;
    fetcher.writeMetrics(out);
    const std::string& text = out.text();
    CHECK(text.find("# TYPE partyline_fetch_total counter\n") != std::string::npos);
    CHECK(text.find("partyline_fetch_total{status=\"ok\"} 1\n") != std::string::npos);
    CHECK(text.find("partyline_fetch_total{status=\"not_allowed\"} 1\n") != std::string::npos);
    CHECK(text.find("partyline_fetch_total{status=\"timeout\"} 0\n") != std::string::npos);
    CHECK(text.find("partyline_fetch_total{status=\"stopped\"} 0\n") != std::string::npos);
    CHECK(text.find("# TYPE partyline_fetch_seconds histogram\n") != std::string::npos);
    CHECK(text.find("partyline_fetch_seconds_count 1\n") != std::string::npos);  // refused calls never start
    CHECK(text.find("partyline_fetch_in_flight 0\n") != std::string::npos);
}

TEST_CASE("a call's own list in place of the Fetcher's: exactly its host and port, by any name's address") {
    HttpTestServer server([](const HttpRequest&, Exchange& ex) { ex.write(httpResponse(204, "")); });
    Fetcher fetcher(limitsFor({}));  // fetch.allow empty: no host for scripts
    const std::string byName = "http://localhost:" + std::to_string(server.port()) + "/hook";
    FetchRequest request;
    request.url = byName;
    CHECK(fetchNow(fetcher, request).status().message() == "not allowed: host localhost");
    request.instead = FetchPolicy::exactly(byName).value();
    request.method = "POST";
    request.body = "{}";
    auto res = fetchNow(fetcher, request);  // localhost resolves to loopback, and is reached
    REQUIRE(res.isOk());
    CHECK(res->status == 204);
    // Another port of the same host is not on that list.
    request.url = "http://localhost:" + std::to_string(server.port() + 1) + "/hook";
    CHECK(fetchNow(fetcher, request).status().message() == "not allowed: host localhost");
}

}  // namespace partyline::net
