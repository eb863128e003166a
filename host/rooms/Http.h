// The HTTP request and response a room handles, independent of CivetWeb.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace partyline {

struct HttpRequest {
    std::string method;
    std::string url;                             // path and query as received
    std::string path;                            // decoded path
    std::string rest;                            // what follows /parties/:party/:room, "" or "/..."
    std::map<std::string, std::string> query;    // decoded query parameters
    std::map<std::string, std::string> headers;  // names in lower case
    std::string body;
    std::string remoteAddr;
    // The verified token's claims (JSON) under the party's auth; empty: no auth, or anonymous.
    std::string auth;
    // A call from another room (room.parties): the rooms of this node, "party/room", whose
    // handlers wait for this answer, the first caller first. Empty for a request from a client.
    std::vector<std::string> callers;
};

struct HttpResponse {
    int status = 200;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;

    static HttpResponse text(int status, std::string body) {
        return {status, {{"Content-Type", "text/plain; charset=utf-8"}}, std::move(body)};
    }
    static HttpResponse json(int status, std::string body) {
        return {status, {{"Content-Type", "application/json"}}, std::move(body)};
    }
};

// Called exactly once with the answer, on the thread that produced it.
using Respond = std::function<void(HttpResponse)>;

}  // namespace partyline
