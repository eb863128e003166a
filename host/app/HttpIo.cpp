#include "app/HttpIo.h"

#include <civetweb.h>

#include <cstring>

#include "app/Router.h"

namespace partyline {
namespace {

// Connection user data: the two marks a connection can carry (the address is the mark).
char kUpgradedMarker;
char kCloseAfterAnswer;
char kRefusedMarker;

}  // namespace

// clang-format off
// The reason phrases of RFC 9110's status codes; another code gets none, which RFC 9112 allows
// (a room's onRequest may answer any status from 100 to 599).
const char* reasonPhrase(int status) {
    switch (status) {
        case 100: return "Continue";
        case 101: return "Switching Protocols";
        case 200: return "OK";
        case 201: return "Created";
        case 202: return "Accepted";
        case 203: return "Non-Authoritative Information";
        case 204: return "No Content";
        case 205: return "Reset Content";
        case 206: return "Partial Content";
        case 300: return "Multiple Choices";
        case 301: return "Moved Permanently";
        case 302: return "Found";
        case 303: return "See Other";
        case 304: return "Not Modified";
        case 307: return "Temporary Redirect";
        case 308: return "Permanent Redirect";
        case 400: return "Bad Request";
        case 401: return "Unauthorized";
        case 402: return "Payment Required";
        case 403: return "Forbidden";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 406: return "Not Acceptable";
        case 407: return "Proxy Authentication Required";
        case 408: return "Request Timeout";
        case 409: return "Conflict";
        case 410: return "Gone";
        case 411: return "Length Required";
        case 412: return "Precondition Failed";
        case 413: return "Content Too Large";
        case 414: return "URI Too Long";
        case 415: return "Unsupported Media Type";
        case 416: return "Range Not Satisfiable";
        case 417: return "Expectation Failed";
        case 421: return "Misdirected Request";
        case 422: return "Unprocessable Content";
        case 426: return "Upgrade Required";
        case 428: return "Precondition Required";
        case 429: return "Too Many Requests";
        case 431: return "Request Header Fields Too Large";
        case 451: return "Unavailable For Legal Reasons";
        case 500: return "Internal Server Error";
        case 501: return "Not Implemented";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        case 504: return "Gateway Timeout";
        case 505: return "HTTP Version Not Supported";
        default: return "";
    }
}
// clang-format on

int statusFor(Code code) {
    switch (code) {
        case Code::InvalidArgument:
            return 400;
        case Code::NotFound:
            return 404;
        case Code::Conflict:
            return 409;
        case Code::TooLarge:
            return 413;
        case Code::Unavailable:
        case Code::ResourceExhausted:
            return 503;
        case Code::RateLimited:
            return 429;
        case Code::Timeout:
            return 504;
        default:
            return 500;
    }
}

std::string encodeResponse(const HttpResponse& response, bool keepAlive) {
    std::string out;
    out.reserve(160 + response.body.size());
    out += "HTTP/1.1 ";
    out += std::to_string(response.status);
    out += ' ';
    out += reasonPhrase(response.status);
    out += "\r\n";
    for (const auto& [name, value] : response.headers)
        out.append(name).append(": ").append(value).append("\r\n");
    out += "Content-Length: ";
    out += std::to_string(response.body.size());
    // Clients close idle connections before the server's keep_alive_timeout_ms (5 s), so a
    // request never races the server's close.
    out += keepAlive ? "\r\nConnection: keep-alive\r\nKeep-Alive: timeout=4\r\n\r\n"
                     : "\r\nConnection: close\r\n\r\n";
    out += response.body;
    return out;
}

void closeAfterAnswer(mg_connection* conn) {
    mg_set_user_connection_data(conn, &kCloseAfterAnswer);
    mg_disable_connection_keep_alive(conn);
}

void markUpgraded(mg_connection* conn) {
    mg_set_user_connection_data(conn, &kUpgradedMarker);
}

bool isUpgraded(const mg_connection* conn) {
    return mg_get_user_connection_data(conn) == &kUpgradedMarker;
}

void* refusedMark() {
    return &kRefusedMarker;
}

bool isRefused(const mg_connection* conn) {
    return mg_get_user_connection_data(conn) == &kRefusedMarker;
}

// CivetWeb's own rule (a Connection header decides, else HTTP/1.1 keeps it), except that a
// request that asked for an upgrade is answered and closed.
bool keepsAlive(mg_connection* conn) {
    if (mg_get_user_connection_data(conn) == &kCloseAfterAnswer) return false;
    if (mg_get_header(conn, "Upgrade")) return false;
    if (const char* connection = mg_get_header(conn, "Connection"))
        return HttpHeaders::listHasToken(connection, "keep-alive");
    const char* version = mg_get_request_info(conn)->http_version;
    return version && strcmp(version, "1.1") == 0;
}

int send(mg_connection* conn, const HttpResponse& response) {
    const bool keepAlive = keepsAlive(conn);
    if (!keepAlive) mg_disable_connection_keep_alive(conn);
    std::string out = encodeResponse(response, keepAlive);
    mg_write(conn, out.data(), out.size());
    return response.status;
}

int sendText(mg_connection* conn, int status, const std::string& body) {
    return send(conn, HttpResponse::text(status, body + "\n"));
}

int refuse(mg_connection* conn, const std::string& why, int retryAfterSeconds) {
    closeAfterAnswer(conn);
    HttpResponse response = HttpResponse::text(503, why + "\n");
    response.headers.emplace_back("Retry-After", std::to_string(retryAfterSeconds));
    return send(conn, response);
}

HttpHeaders headersOf(const mg_request_info* ri) {
    HttpHeaders headers;
    for (int i = 0; i < ri->num_headers; ++i)
        headers.add(ri->http_headers[i].name, ri->http_headers[i].value);
    return headers;
}

std::map<std::string, std::string> queryOf(const mg_request_info* ri) {
    return ri->query_string ? parseQuery(ri->query_string) : std::map<std::string, std::string>{};
}

Status readBody(mg_connection* conn, size_t limit, std::string& body) {
    const mg_request_info* ri = mg_get_request_info(conn);
    if (ri->content_length > 0 && size_t(ri->content_length) > limit)
        return Status(Code::TooLarge, "body of " + std::to_string(ri->content_length) +
                                          " bytes is over limits.max_message_bytes (" +
                                          std::to_string(limit) + ")");
    char buffer[16384];
    for (;;) {
        int n = mg_read(conn, buffer, sizeof buffer);
        if (n < 0) return Status(Code::InvalidArgument, "the request body could not be read");
        if (n == 0) return Status::ok();
        if (body.size() + size_t(n) > limit)
            return Status(Code::TooLarge,
                          "body is over limits.max_message_bytes (" + std::to_string(limit) + ")");
        body.append(buffer, size_t(n));
    }
}

HttpRequest makeRequest(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    HttpRequest request;
    request.method = ri->request_method;
    // decode_url is off, so CivetWeb leaves the path as the client sent it.
    request.url = ri->local_uri_raw ? ri->local_uri_raw : "";
    if (!percentDecode(request.url, request.path, false)) request.path = request.url;
    if (ri->query_string) {
        request.url += '?';
        request.url += ri->query_string;
        request.query = parseQuery(ri->query_string);
    }
    request.rest = route.rest;
    HttpHeaders headers = headersOf(ri);
    request.headers = {headers.all().begin(), headers.all().end()};
    request.remoteAddr = ri->remote_addr;
    return request;
}

}  // namespace partyline
