#include "core/AddressRange.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string>

namespace partyline {
namespace {

constexpr unsigned kMappedPrefixBits = 96;  // ::ffff:0:0/96 holds the IPv4 addresses

}  // namespace

std::optional<std::array<uint8_t, 16>> parseAddress(std::string_view text) {
    std::string copy(text);  // inet_pton needs a terminated string
    std::array<uint8_t, 16> bytes{};
    in_addr v4{};
    if (inet_pton(AF_INET, copy.c_str(), &v4) == 1) {
        bytes[10] = 0xff;
        bytes[11] = 0xff;
        std::memcpy(bytes.data() + 12, &v4, 4);
        return bytes;
    }
    if (inet_pton(AF_INET6, copy.c_str(), bytes.data()) == 1) return bytes;
    return std::nullopt;
}

std::optional<AddressRange> AddressRange::parse(std::string_view text) {
    size_t slash = text.find('/');
    auto bytes = parseAddress(text.substr(0, slash));
    if (!bytes) return std::nullopt;
    bool v4 = text.substr(0, slash).find(':') == std::string_view::npos;
    AddressRange range;
    range.bytes_ = *bytes;
    if (slash != std::string_view::npos) {
        std::string_view digits = text.substr(slash + 1);
        unsigned bits = 0;
        auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
        if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
            bits > (v4 ? 32u : 128u))
            return std::nullopt;
        range.prefixBits_ = v4 ? kMappedPrefixBits + bits : bits;
    }
    return range;
}

bool AddressRange::contains(std::string_view address) const {
    auto bytes = parseAddress(address);
    if (!bytes) return false;
    unsigned whole = prefixBits_ / 8, rest = prefixBits_ % 8;
    if (std::memcmp(bytes->data(), bytes_.data(), whole) != 0) return false;
    if (rest == 0) return true;
    uint8_t mask = uint8_t(0xff << (8 - rest));
    return (((*bytes)[whole] ^ bytes_[whole]) & mask) == 0;
}

}  // namespace partyline
