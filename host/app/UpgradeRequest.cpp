#include "app/UpgradeRequest.h"

#include <cctype>

#include "app/Router.h"

namespace partyline {
namespace {

bool isEpoch(std::string_view text) {
    if (text.empty() || text.size() > 64) return false;
    for (char c : text)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
    return true;
}

bool isBase64Char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
}

// RFC 6455 section 4.2.1: base64 of a 16-byte value, which is always 22 characters and "==".
bool isWebSocketKey(std::string_view key) {
    if (key.size() != 24 || key.substr(22) != "==") return false;
    for (char c : key.substr(0, 22))
        if (!isBase64Char(c)) return false;
    return true;
}

Status refuse(std::string message) {
    return Status(Code::InvalidArgument, std::move(message));
}

}  // namespace

bool isValidConnectionId(std::string_view id) {
    if (id.empty() || id.size() > kMaxConnectionIdBytes) return false;
    for (unsigned char c : id)
        if (c < 0x21 || c == 0x7f) return false;
    return true;
}

bool UpgradeRequest::isUpgrade(const HttpHeaders& headers) {
    return headers.find("upgrade") || headers.hasToken("connection", "upgrade");
}

Result<UpgradeRequest> UpgradeRequest::parse(std::string_view method, const HttpHeaders& headers,
                                             const std::map<std::string, std::string>& query) {
    if (method != "GET") return refuse("a WebSocket upgrade must be a GET");
    if (!headers.hasToken("upgrade", "websocket")) return refuse("Upgrade header must be 'websocket'");
    if (!headers.hasToken("connection", "upgrade")) return refuse("Connection header must contain 'Upgrade'");
    const std::string* key = headers.find("sec-websocket-key");
    if (!key || !isWebSocketKey(*key)) return refuse("missing or malformed Sec-WebSocket-Key");
    const std::string* version = headers.find("sec-websocket-version");
    if (!version || *version != "13") return refuse("unsupported Sec-WebSocket-Version: use 13");
    UpgradeRequest request;
    request.key = *key;
    request.versioned = headers.hasToken("sec-websocket-protocol", "partyline.v1");
    if (auto pk = query.find("_pk"); pk != query.end() && isValidConnectionId(pk->second))
        request.connectionId = pk->second;
    if (auto resume = query.find("_resume"); resume != query.end() && isValidConnectionId(resume->second))
        request.resume = resume->second;
    if (auto since = query.find("since"); since != query.end()) {
        request.since = parseDecimal(since->second);
        if (!request.since) return refuse("since must be a log sequence (a non-negative integer)");
    }
    if (auto epoch = query.find("epoch"); epoch != query.end()) {
        if (!isEpoch(epoch->second))
            return refuse(
                "epoch must be the log generation a welcome frame gave (1 to 64 letters, digits, '-', '_' or "
                "'.')");
        request.epoch = epoch->second;
    }
    return request;
}

}  // namespace partyline
