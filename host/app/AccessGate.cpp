#include "app/AccessGate.h"

#include <civetweb.h>

#include <cstring>

#include "app/HttpIo.h"

namespace partyline {

AccessGate::AccessGate(std::vector<std::string> apiKeys, bool insecure, std::vector<std::string> origins,
                       TrustedProxies proxies)
    : control_(std::move(apiKeys), insecure), origins_(std::move(origins)), proxies_(std::move(proxies)) {}

std::optional<int> AccessGate::refuseControl(mg_connection* conn, const mg_request_info* ri) {
    HttpHeaders headers = headersOf(ri);
    // Behind a trusted proxy on this host, the client is who the proxy says, not loopback.
    std::string client = proxies_.clientOf(ri->remote_addr, headers.find("x-forwarded-for"));
    auto verdict = control_.check(headers.find("authorization"), client, headers.find("origin") != nullptr);
    if (verdict == ControlAccess::Verdict::Allowed) return std::nullopt;
    controlRefused_++;
    int status = ControlAccess::statusFor(verdict);
    HttpResponse answer = HttpResponse::text(status, ControlAccess::explain(verdict));
    // RFC 6750 section 3: a missing key gets the bare challenge, a wrong one says why.
    if (verdict == ControlAccess::Verdict::MissingKey) {
        answer.headers.push_back({"WWW-Authenticate", "Bearer realm=\"partyline\""});
    } else if (verdict == ControlAccess::Verdict::WrongKey) {
        answer.headers.push_back({"WWW-Authenticate", "Bearer realm=\"partyline\", error=\"invalid_token\""});
    }
    closeAfterAnswer(conn);  // its body, if any, is never read
    return send(conn, answer);
}

AccessGate::RoomAdmission AccessGate::admitRoom(mg_connection* conn, const mg_request_info* ri) {
    HttpHeaders headers = headersOf(ri);
    const std::string* origin = headers.find("origin");
    switch (origins_.check(origin, headers.find("host"))) {
        case OriginPolicy::Verdict::NoOrigin:
        case OriginPolicy::Verdict::SameOrigin:
            return {};
        case OriginPolicy::Verdict::Refused:
            originRefused_++;
            closeAfterAnswer(conn);
            return {send(conn, HttpResponse::text(403, OriginPolicy::explainRefusal(origin))), {}};
        case OriginPolicy::Verdict::Listed:
            break;
    }
    // A CORS preflight (OPTIONS with Access-Control-Request-Method) is the node's to answer.
    if (std::strcmp(ri->request_method, "OPTIONS") == 0 && headers.find("access-control-request-method")) {
        HttpResponse answer{
            204, OriginPolicy::preflightHeaders(*origin, headers.find("access-control-request-headers")), {}};
        return {send(conn, answer), {}};
    }
    return {std::nullopt, *origin};
}

void AccessGate::addCors(HttpResponse& response, const std::string& origin) {
    if (origin.empty()) return;
    for (auto& header : OriginPolicy::corsHeaders(origin)) response.headers.push_back(std::move(header));
}

}  // namespace partyline
