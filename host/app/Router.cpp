#include "app/Router.h"

#include <charconv>
#include <vector>

namespace partyline {
namespace {

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::vector<std::string_view> split(std::string_view path) {
    std::vector<std::string_view> parts;
    size_t start = 1;  // after the leading '/'
    while (start <= path.size()) {
        size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        parts.push_back(path.substr(start, end - start));
        start = end + 1;
    }
    return parts;
}

Route kindOnly(Route::Kind kind) {
    Route r;
    r.kind = kind;
    return r;
}

}  // namespace

bool percentDecode(std::string_view in, std::string& out, bool plusIsSpace) {
    out.clear();
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            out += char(hi * 16 + lo);
            i += 2;
        } else {
            out += (plusIsSpace && c == '+') ? ' ' : c;
        }
    }
    return true;
}

std::map<std::string, std::string> parseQuery(std::string_view query) {
    std::map<std::string, std::string> params;
    while (!query.empty()) {
        size_t amp = query.find('&');
        std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;
        size_t eq = pair.find('=');
        std::string key, value;
        if (!percentDecode(pair.substr(0, eq), key, true)) continue;
        if (eq != std::string_view::npos && !percentDecode(pair.substr(eq + 1), value, true)) continue;
        params.emplace(std::move(key), std::move(value));
    }
    return params;
}

std::optional<uint64_t> parseDecimal(std::string_view text) {
    if (text.empty() || text[0] < '0' || text[0] > '9') return std::nullopt;
    uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size()) return std::nullopt;
    return value;
}

Route route(std::string_view rawPath) {
    Route r;
    if (rawPath.empty() || rawPath[0] != '/') return r;
    if (rawPath == "/healthz") return kindOnly(Route::Kind::Health);
    if (rawPath == "/readyz") return kindOnly(Route::Kind::Ready);
    if (rawPath == "/metrics") return kindOnly(Route::Kind::Metrics);
    if (rawPath == "/v1/connect") return kindOnly(Route::Kind::Connect);
    auto parts = split(rawPath);
    auto decodeInto = [&](std::string_view raw, std::string& out, const char* what) {
        if (!percentDecode(raw, out, false)) {
            r = kindOnly(Route::Kind::BadRequest);
            r.error = std::string("bad percent-encoding in the ") + what;
            return false;
        }
        if (out.empty()) {
            r = kindOnly(Route::Kind::BadRequest);
            r.error = std::string("empty ") + what;
            return false;
        }
        return true;
    };
    // /parties/:party/:room[/rest] and /party/:room[/rest]
    size_t roomIndex = 0;
    if (parts.size() >= 3 && parts[0] == "parties") {
        if (!decodeInto(parts[1], r.party, "party name")) return r;
        roomIndex = 2;
    } else if (parts.size() >= 2 && parts[0] == "party") {
        r.party = "main";
        roomIndex = 1;
    } else if (parts.size() >= 5 && parts[0] == "v1" && parts[1] == "parties") {
        // /v1/parties/:party/:room/broadcast|history|presence, /v1/parties/:party/reload
        if (!decodeInto(parts[2], r.party, "party name") || !decodeInto(parts[3], r.room, "room id"))
            return r;
        if (parts.size() == 5 && parts[4] == "broadcast")
            r.kind = Route::Kind::Broadcast;
        else if (parts.size() == 5 && parts[4] == "history")
            r.kind = Route::Kind::History;
        else if (parts.size() == 5 && parts[4] == "presence")
            r.kind = Route::Kind::Presence;
        else
            r = kindOnly(Route::Kind::Other);
        return r;
    } else if (parts.size() == 4 && parts[0] == "v1" && parts[1] == "parties" && parts[3] == "reload") {
        if (!decodeInto(parts[2], r.party, "party name")) return r;
        r.kind = Route::Kind::Reload;
        return r;
    } else {
        return r;
    }
    if (!decodeInto(parts[roomIndex], r.room, "room id")) return r;
    for (size_t i = roomIndex + 1; i < parts.size(); ++i) {
        r.rest += '/';
        r.rest += parts[i];
    }
    r.kind = Route::Kind::Room;
    return r;
}

}  // namespace partyline
