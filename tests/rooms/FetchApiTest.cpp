// fetch in room scripts over the in-memory bus, against real HTTP servers on 127.0.0.1 port 0
// (HttpTestServer): the answer as a table, the request as sent, each kind of bad input as nil and
// why, each script mistake as an error, the places fetch may not be called, a party's narrower
// list, and a handler waiting for a backend without holding back its room's deliveries or other
// rooms.
#include <doctest/doctest.h>

#include <atomic>
#include <future>

#include "net/HttpTestServer.h"
#include "rooms/RoomsTestSupport.h"

using namespace partyline;
using namespace partyline::testing;
using namespace std::chrono_literals;
using net::test::httpResponse;
using net::test::HttpTestServer;
using Exchange = HttpTestServer::Exchange;

namespace {

// onRequest makes the call the query names and answers with what fetch returned.
constexpr const char* kCaller = R"lua(
local Room = {}
local function show(res, err)
  if not res then return "nil " .. tostring(err) end
  local names, shown = {}, {}
  for name in pairs(res.headers) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do shown[#shown + 1] = name .. "=" .. res.headers[name] end
  return res.status .. " " .. res.body .. " [" .. table.concat(shown, ",") .. "]"
end
local mistakes = {
  function(url) return fetch(42) end,
  function(url) return fetch(url, "POST") end,
  function(url) return fetch(url, {methd = "POST"}) end,
  function(url) return fetch(url, {headers = {a = 1}}) end,
  function(url) return fetch(url, {headers = "a: b"}) end,
  function(url) return fetch(url, {timeout_ms = 0}) end,
  function(url) return fetch(url, {timeout_ms = 1.5}) end,
  function(url) return fetch(url, {body = {a = 1}}) end,
  function(url) return fetch(url, {[1] = "x"}) end,
}
function Room.onRequest(room, req)
  local q = req.query
  if q.op == "get" then return show(fetch(q.url)) end
  if q.op == "timeout" then return show(fetch(q.url, {timeout_ms = 200})) end
  if q.op == "post" then
    return show(fetch(q.url, {method = "POST", body = q.body or "hello", timeout_ms = 3000,
                              headers = {["X-Token"] = "t-1", ["content-type"] = "text/plain"}}))
  end
  if q.op == "value" then return show(fetch(q.url, {headers = {["x-bad"] = q.value}})) end
  if q.op == "name" then return show(fetch(q.url, {headers = {[q.value] = "v"}})) end
  if q.op == "body" then return show(fetch(q.url, {method = "POST", body = string.rep("x", tonumber(q.n))})) end
  if q.op == "coroutine" then
    local co = coroutine.create(function() return fetch(q.url) end)
    local ok, err = coroutine.resume(co)
    return tostring(ok) .. " " .. tostring(err):gsub("^[^:]*/", "")
  end
  if q.op == "mistakes" then
    local out = {}
    for _, call in ipairs(mistakes) do
      local ok, err = pcall(call, q.url)
      out[#out + 1] = tostring(ok) .. " " .. tostring(err):gsub("^[^:]*/", "")
    end
    return table.concat(out, "\n")
  end
  return "no op"
end
return Room
)lua";

std::string allowed(const HttpTestServer& server) {
    return "127.0.0.1:" + std::to_string(server.port());
}

net::FetchLimits limitsFor(std::vector<std::string> allow) {
    net::FetchLimits limits;
    limits.allow = std::move(allow);
    limits.timeout_ms = 5000;
    limits.max_request_bytes = 1024;
    limits.max_response_bytes = 4096;
    return limits;
}

// Answers 201 with what it got: method, target, body and the X-Token header.
void echo(const net::test::HttpRequest& r, Exchange& ex) {
    const std::string* token = r.header("x-token");
    ex.write(httpResponse(201, r.method + " " + r.target + " " + r.body + (token ? " " + *token : ""),
                          "X-Reply: One\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"));
}

}  // namespace

TEST_CASE("fetch answers status, headers in lower case and body, and sends method, headers and body") {
    HttpTestServer server(echo);
    Rooms rooms(Scripts{{"caller", kCaller}});
    rooms.enableFetch(limitsFor({allowed(server)}));
    auto shard = rooms.shard("caller", "r");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"url", server.url("/a?b=1")}}) ==
          "201 GET /a?b=1  [connection=close,content-length=11,set-cookie=a=1, b=2,x-reply=One]");
    CHECK(rooms.answer(shard, {{"op", "post"}, {"url", server.url("/save")}}) ==
          "201 POST /save hello t-1 [connection=close,content-length=20,set-cookie=a=1, b=2,x-reply=One]");
    auto last = server.last();
    REQUIRE(last.header("content-type"));
    CHECK(*last.header("content-type") == "text/plain");
}

TEST_CASE("bad input returns nil and why, and nothing is sent") {
    HttpTestServer server(echo);
    Rooms rooms(Scripts{{"caller", kCaller}});
    rooms.enableFetch(limitsFor({allowed(server)}));
    auto shard = rooms.shard("caller", "r");
    const std::string url = server.url("/");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"url", "not a url"}}) == "nil bad url");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"url", "ftp://" + allowed(server) + "/"}}) == "nil bad url");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"url", "http://elsewhere.example.com/"}}) ==
          "nil not allowed: host elsewhere.example.com");
    CHECK(rooms.answer(shard, {{"op", "value"}, {"url", url}, {"value", "a\r\nX-Injected: 1"}}) ==
          "nil bad header");
    CHECK(rooms.answer(shard, {{"op", "value"}, {"url", url}, {"value", "a\nb"}}) == "nil bad header");
    CHECK(rooms.answer(shard, {{"op", "value"}, {"url", url}, {"value", std::string("a\0b", 3)}}) ==
          "nil bad header");
    CHECK(rooms.answer(shard, {{"op", "name"}, {"url", url}, {"value", "x\r\ny"}}) == "nil bad header");
    CHECK(rooms.answer(shard, {{"op", "name"}, {"url", url}, {"value", "content-length"}}) ==
          "nil bad header");
    // Over max_request_bytes (a node's limits.max_message_bytes).
    CHECK(rooms.answer(shard, {{"op", "body"}, {"url", url}, {"n", "1025"}}) == "nil too large");
    CHECK(server.requests() == 0);
    // The well-behaved call beside each of them is served.
    CHECK(rooms.answer(shard, {{"op", "body"}, {"url", url}, {"n", "1024"}}).starts_with("201 POST / xxx"));
    CHECK(rooms.answer(shard, {{"op", "value"}, {"url", url}, {"value", "fine"}}).starts_with("201 GET /"));
}

TEST_CASE("an answer over max_response_bytes, or none in time, returns nil and why") {
    HttpTestServer server([](const net::test::HttpRequest& r, Exchange& ex) {
        if (r.target == "/big") ex.write(httpResponse(200, std::string(4097, 'b')));
        if (r.target == "/fits") ex.write(httpResponse(200, std::string(4096, 'b')));
        if (r.target == "/never") ex.waitForClose();
    });
    Rooms rooms(Scripts{{"caller", kCaller}});
    rooms.enableFetch(limitsFor({allowed(server)}));
    auto shard = rooms.shard("caller", "r");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"url", server.url("/big")}}) == "nil too large");
    CHECK(rooms.answer(shard, {{"op", "get"}, {"url", server.url("/fits")}}).starts_with("200 bbbb"));
    CHECK(rooms.answer(shard, {{"op", "timeout"}, {"url", server.url("/never")}}) == "nil timeout");
}

TEST_CASE("a script's mistakes raise errors that name the script's line") {
    HttpTestServer server(echo);
    Rooms rooms(Scripts{{"caller", kCaller}});
    rooms.enableFetch(limitsFor({allowed(server)}));
    auto shard = rooms.shard("caller", "r");
    std::string out = rooms.answer(shard, {{"op", "mistakes"}, {"url", server.url("/")}});
    CHECK(out ==
          "false caller.lua:12: fetch: the url must be a string, got number\n"
          "false caller.lua:13: fetch: options must be a table such as {method = \"POST\"}, got string\n"
          "false caller.lua:14: fetch: unknown option 'methd' (method, headers, body, timeout_ms)\n"
          "false caller.lua:15: fetch: header 'a' must be a string, got number\n"
          "false caller.lua:16: fetch: headers must be a table of name = value, got string\n"
          "false caller.lua:17: fetch: timeout_ms must be a positive integer of milliseconds\n"
          "false caller.lua:18: fetch: timeout_ms must be a positive integer of milliseconds\n"
          "false caller.lua:19: fetch: body must be a string (json.encode a table), got table\n"
          "false caller.lua:20: fetch: option names are strings (method, headers, body, timeout_ms), got "
          "number");
    CHECK(server.requests() == 0);
}

TEST_CASE("fetch may be called from handlers only: not inside a coroutine, not while the script loads") {
    HttpTestServer server(echo);
    constexpr const char* kAtLoad = R"lua(
local answer = fetch("http://127.0.0.1:1/")
return {}
)lua";
    Rooms rooms(Scripts{{"caller", kCaller}, {"atload", kAtLoad}});
    rooms.enableFetch(limitsFor({allowed(server)}));
    CHECK(rooms.answer(rooms.shard("caller", "r"), {{"op", "coroutine"}, {"url", server.url("/")}}) ==
          "false caller.lua:34: fetch must be called from a handler, not inside a coroutine or a metamethod");
    HttpResponse broken = rooms.request(rooms.shard("atload", "r"), queryRequest({}));
    CHECK(broken.status == 500);
    CHECK(broken.body.find("atload.lua:2: fetch must be called from a handler") != std::string::npos);
    CHECK(server.requests() == 0);
    // A handler of the same room still calls it.
    CHECK(rooms.answer(rooms.shard("caller", "r"), {{"op", "get"}, {"url", server.url("/")}})
              .starts_with("201"));
}

TEST_CASE("onBeforeConnect and onMessage wait for fetch too") {
    HttpTestServer backend([](const net::test::HttpRequest& r, Exchange& ex) {
        if (r.target == "/session?token=good")
            ex.write(httpResponse(200, "ada"));
        else
            ex.write(httpResponse(401, "no"));
    });
    const std::string script = R"lua(
local base = ")lua" + backend.url("") +
                               R"lua("
local Room = {}
function Room.onBeforeConnect(room, req)
  local res, err = fetch(base .. "/session?token=" .. (req.query.token or ""))
  if not res or res.status ~= 200 then return {status = 401, body = "session refused"} end
end
function Room.onMessage(room, conn, message)
  local res, err = fetch(base .. "/session?token=" .. message)
  conn:send(res and (res.status .. " " .. res.body) or err)
end
return Room
)lua";
    Rooms rooms(Scripts{{"gate", script}});
    rooms.enableFetch(limitsFor({allowed(backend)}));
    auto shard = rooms.shard("gate", "r");
    auto decide = [&](std::string token) {
        std::promise<std::optional<HttpResponse>> decided;
        shard->beforeConnect(queryRequest({{"token", std::move(token)}}),
                             [&](std::optional<HttpResponse> r) { decided.set_value(std::move(r)); });
        auto future = decided.get_future();
        REQUIRE(future.wait_for(5s) == std::future_status::ready);
        return future.get();
    };
    auto refused = decide("bad");
    REQUIRE(refused.has_value());
    CHECK(refused->status == 401);
    CHECK(refused->body == "session refused");
    CHECK_FALSE(decide("good").has_value());

    auto client = std::make_shared<FakeClient>("c");
    shard->connect(client, {});
    shard->receive(client, "good", false);
    shard->receive(client, "bad", false);
    CHECK(texts(client->waitFor(2, 5s)) == std::vector<std::string>{"200 ada", "401 no"});
}

TEST_CASE("a party's fetch.allow narrows the node's list") {
    HttpTestServer server(echo);
    HttpTestServer other(echo);
    Rooms rooms(Scripts{{"caller", kCaller}, {"narrow", kCaller}});
    rooms.enableFetch(limitsFor({allowed(server), allowed(other)}), {{"narrow", {allowed(server)}}});
    auto narrow = rooms.shard("narrow", "r");
    CHECK(rooms.answer(narrow, {{"op", "get"}, {"url", server.url("/")}}).starts_with("201"));
    CHECK(rooms.answer(narrow, {{"op", "get"}, {"url", other.url("/")}}) ==
          "nil not allowed: host 127.0.0.1");
    CHECK(other.requests() == 0);
    // Another party keeps the node's whole list.
    CHECK(rooms.answer(rooms.shard("caller", "r"), {{"op", "get"}, {"url", other.url("/")}})
              .starts_with("201"));
}

TEST_CASE("on a node without a Fetcher, fetch raises") {
    Rooms rooms(Scripts{{"caller", kCaller}});
    HttpResponse response = rooms.request(rooms.shard("caller", "r"),
                                          queryRequest({{"op", "get"}, {"url", "http://127.0.0.1:1/"}}));
    CHECK(response.status == 500);
    CHECK(response.body.find("caller.lua:24: fetch: this node makes no outgoing calls") != std::string::npos);
}

TEST_CASE("a handler waiting for fetch holds back neither other rooms nor its room's deliveries") {
    std::atomic<bool> release{false};
    HttpTestServer server([&](const net::test::HttpRequest& r, Exchange& ex) {
        if (r.target == "/slow") {
            while (!release && ex.sleep(5ms)) {
            }
        }
        ex.write(httpResponse(200, "done " + r.target));
    });
    Rooms rooms(Scripts{{"caller", kCaller}});
    rooms.enableFetch(limitsFor({allowed(server)}));
    auto slow = rooms.shard("caller", "slow");
    REQUIRE(slow->waitUntilReady(3s));
    auto client = std::make_shared<FakeClient>("c");
    slow->connect(client, {});

    std::promise<HttpResponse> answered;
    slow->request(queryRequest({{"op", "get"}, {"url", server.url("/slow")}}),
                  [&](HttpResponse r) { answered.set_value(std::move(r)); });
    REQUIRE(eventually([&] { return server.requests() == 1; }, 5s));

    // Another room calls the same backend and answers; the waiting room still delivers its log.
    CHECK(rooms.answer(rooms.shard("caller", "other"), {{"op", "get"}, {"url", server.url("/fast")}})
              .starts_with("200 done /fast"));
    rooms.bus.publish(slow->subjects().log, "while waiting", {}, [](Result<uint64_t>) {});
    CHECK(texts(client->waitFor(1)) == std::vector<std::string>{"while waiting"});
    auto future = answered.get_future();
    CHECK(future.wait_for(50ms) == std::future_status::timeout);

    release = true;
    REQUIRE(future.wait_for(5s) == std::future_status::ready);
    CHECK(future.get().body.starts_with("200 done /slow"));
}
