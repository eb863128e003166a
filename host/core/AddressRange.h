// AddressRange: one IP address or CIDR block ("10.0.0.0/8", "127.0.0.1", "fd00::/8"), and whether
// an address written as text falls in it. Pure: parsing and comparing bytes, no names, no sockets.
//
// An IPv4 address also matches in its IPv4-mapped IPv6 form ("::ffff:10.1.2.3"), which a
// dual-stack listener reports for IPv4 peers. Must not: resolve host names.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

namespace partyline {

class AddressRange {
   public:
    // An address alone is a block of one address. Nothing when `text` is not a numeric IPv4 or
    // IPv6 address with an optional prefix length in range.
    static std::optional<AddressRange> parse(std::string_view text);

    // Whether `address` (numeric, as a peer's address is written) is in this block; false for
    // text that is not an address.
    bool contains(std::string_view address) const;

   private:
    // IPv4 is held as its IPv4-mapped IPv6 form, so one comparison serves both families.
    std::array<uint8_t, 16> bytes_{};
    unsigned prefixBits_ = 128;
};

// The 16 bytes of a numeric IPv4 or IPv6 address (IPv4 as IPv4-mapped IPv6); nothing otherwise.
std::optional<std::array<uint8_t, 16>> parseAddress(std::string_view text);

}  // namespace partyline
