#include "app/ControlAccess.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>

namespace partyline {
namespace {

using Digest = std::array<unsigned char, 32>;

// Keys are compared as SHA-256 digests with CRYPTO_memcmp: the time taken says nothing of
// how much of a key matched, nor of its length.
Digest digestOf(std::string_view text) {
    Digest digest{};
    unsigned int length = 0;
    EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr);
    return digest;
}

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
        if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
        if (x != y) return false;
    }
    return true;
}

}  // namespace

ControlAccess::ControlAccess(std::vector<std::string> keys, bool insecure)
    : keys_(std::move(keys)), insecure_(insecure) {}

bool ControlAccess::isLoopback(std::string_view peer) {
    std::string text(peer);
    in_addr v4{};
    if (inet_pton(AF_INET, text.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, text.c_str(), &v6) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&v6)) return true;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) return v6.s6_addr[12] == 127;
    return false;
}

bool ControlAccess::matchesAKey(std::string_view presented) const {
    Digest given = digestOf(presented);
    bool matched = false;
    for (const auto& key : keys_) {  // every key is compared: the time does not say which matched
        Digest expected = digestOf(key);
        matched |= CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0;
    }
    return matched;
}

ControlAccess::Verdict ControlAccess::check(const std::string* authorization, std::string_view peer,
                                            bool fromBrowser) const {
    if (insecure_) return Verdict::Allowed;
    if (keys_.empty()) {
        if (!isLoopback(peer)) return Verdict::NotLoopback;
        return fromBrowser ? Verdict::BrowserPage : Verdict::Allowed;
    }
    if (!authorization) return Verdict::MissingKey;
    // RFC 6750: "Bearer" (any case), one space, the token; nothing else is a key.
    std::string_view value(*authorization);
    constexpr std::string_view kScheme = "bearer ";
    if (value.size() <= kScheme.size() || !equalsIgnoreCase(value.substr(0, kScheme.size()), kScheme)) {
        return Verdict::WrongKey;
    }
    std::string_view token = value.substr(kScheme.size());
    for (char c : token) {
        if (c <= ' ' || c > '~') return Verdict::WrongKey;
    }
    return matchesAKey(token) ? Verdict::Allowed : Verdict::WrongKey;
}

std::string ControlAccess::describe() const {
    if (insecure_) return "control API open to everyone (api.insecure: true; development only)";
    if (!keys_.empty())
        return "control API needs a bearer key (" + std::to_string(keys_.size()) + " in api.keys)";
    return "control API answers loopback peers only (set api.keys to use it from another host)";
}

const char* ControlAccess::explain(Verdict verdict) {
    switch (verdict) {
        case Verdict::Allowed:
            return "";
        case Verdict::MissingKey:
            return "this endpoint needs an API key: send Authorization: Bearer <key> with a key of "
                   "api.keys\n";
        case Verdict::WrongKey:
            return "the API key sent in Authorization: Bearer matches no key of api.keys\n";
        case Verdict::NotLoopback:
            return "set api.keys to use the control API from another host\n";
        case Verdict::BrowserPage:
            return "the control API does not answer web pages: call it from a server, with a key of "
                   "api.keys\n";
    }
    return "";
}

int ControlAccess::statusFor(Verdict verdict) {
    switch (verdict) {
        case Verdict::Allowed:
            return 200;
        case Verdict::MissingKey:
        case Verdict::WrongKey:
            return 401;
        case Verdict::NotLoopback:
        case Verdict::BrowserPage:
            return 403;
    }
    return 403;
}

}  // namespace partyline
