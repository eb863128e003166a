// HttpIo: how a CivetWeb worker reads a request and writes its answer.
//
// Provides the request as the rooms see it (makeRequest, readBody, headersOf, queryOf), the
// answer in one write (encodeResponse, send, sendText, refuse), the mapping of a Status code to
// an HTTP status, and Waiter, with which a worker waits for an answer made on another thread.
// Must not: route, count connections or call into a room; callers decide what to answer.
//
// Threads: everything taking an mg_connection runs on the CivetWeb worker that holds it.
#pragma once

#include <chrono>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>

#include "app/HttpHeaders.h"
#include "core/Status.h"
#include "rooms/Http.h"

struct mg_connection;
struct mg_request_info;

namespace partyline {

struct Route;

// How long an HTTP request waits for its room handler or the log's acknowledgement.
inline constexpr auto kRequestTimeout = std::chrono::seconds(30);
// Seconds a refused client should wait: at the limit, and while this node drains (go elsewhere).
inline constexpr int kRetryAfterAtLimit = 5;
inline constexpr int kRetryAfterDraining = 1;

// The phrase of the status line; "Status" for a code partyline does not answer with by name.
const char* reasonPhrase(int status);
// The HTTP status that answers a failure with this code (500 for codes no client can act on).
int statusFor(Code code);

// The whole answer in one buffer, for one write: CivetWeb's header API sends every header line
// on its own (8 TCP segments for a broadcast's answer, with tcp_nodelay). Adds Content-Length
// and Connection (with Keep-Alive when `keepAlive`).
std::string encodeResponse(const HttpResponse& response, bool keepAlive);

// Marks `conn` to close after this answer, whatever the request asked for.
void closeAfterAnswer(mg_connection* conn);
// Marks `conn` as upgraded: its socket went to the Reactor and it left the HTTP count already.
void markUpgraded(mg_connection* conn);
bool isUpgraded(const mg_connection* conn);
// The connection data of a connection refused before its request was read (its answer is
// written and its socket shut down): nothing may answer it again.
void* refusedMark();
bool isRefused(const mg_connection* conn);
// Whether CivetWeb reads another request from this connection after the answer.
bool keepsAlive(mg_connection* conn);

// Writes `response` and returns its status (what the handlers return).
int send(mg_connection* conn, const HttpResponse& response);
// A text/plain answer of `body` and a line end.
int sendText(mg_connection* conn, int status, const std::string& body);
// 503 with Retry-After, and the connection closed afterwards.
int refuse(mg_connection* conn, const std::string& why, int retryAfterSeconds);

HttpHeaders headersOf(const mg_request_info* ri);
std::map<std::string, std::string> queryOf(const mg_request_info* ri);
// Reads the whole body, refusing more than `limit` bytes before reading them when the length is
// declared: TooLarge past the limit, InvalidArgument when the body cannot be read.
Status readBody(mg_connection* conn, size_t limit, std::string& body);
// The request as a room handler sees it (the body is read separately, with its limit).
HttpRequest makeRequest(mg_connection* conn, const Route& route);

// Waits on a CivetWeb worker for an answer produced on another thread: callback() goes to that
// thread, the worker waits on `future`.
template <class T>
struct Waiter {
    std::shared_ptr<std::promise<T>> promise = std::make_shared<std::promise<T>>();
    std::future<T> future = promise->get_future();
    std::function<void(T)> callback() {
        return [p = promise](T value) { p->set_value(std::move(value)); };
    }
};

}  // namespace partyline
