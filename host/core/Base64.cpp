#include "core/Base64.h"

#include <array>
#include <cstdint>

namespace partyline {
namespace {

constexpr char kStandard[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kUrl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr uint8_t kInvalid = 0xFF;

// Each byte's value in `alphabet`, or kInvalid.
constexpr std::array<uint8_t, 256> valuesOf(const char* alphabet) {
    std::array<uint8_t, 256> values{};
    values.fill(kInvalid);
    for (uint8_t i = 0; i < 64; ++i) values[static_cast<uint8_t>(alphabet[i])] = i;
    return values;
}
constexpr auto kStandardValues = valuesOf(kStandard);
constexpr auto kUrlValues = valuesOf(kUrl);

bool padded(Base64Alphabet alphabet) {
    return alphabet == Base64Alphabet::Standard;
}

}  // namespace

size_t base64EncodedSize(size_t bytes, Base64Alphabet alphabet) {
    if (padded(alphabet)) return (bytes + 2) / 3 * 4;
    return bytes / 3 * 4 + (bytes % 3 == 0 ? 0 : bytes % 3 + 1);
}

void base64EncodeTo(std::string_view bytes, char* out, Base64Alphabet alphabet) {
    const char* digits = padded(alphabet) ? kStandard : kUrl;
    size_t i = 0;
    for (; i + 2 < bytes.size(); i += 3) {
        uint32_t n = uint8_t(bytes[i]) << 16 | uint8_t(bytes[i + 1]) << 8 | uint8_t(bytes[i + 2]);
        *out++ = digits[n >> 18];
        *out++ = digits[(n >> 12) & 63];
        *out++ = digits[(n >> 6) & 63];
        *out++ = digits[n & 63];
    }
    if (i == bytes.size()) return;
    bool two = i + 1 < bytes.size();
    uint32_t n = uint8_t(bytes[i]) << 16 | (two ? uint8_t(bytes[i + 1]) << 8 : 0);
    *out++ = digits[n >> 18];
    *out++ = digits[(n >> 12) & 63];
    if (two) *out++ = digits[(n >> 6) & 63];
    if (!padded(alphabet)) return;
    if (!two) *out++ = '=';
    *out++ = '=';
}

std::string base64Encode(std::string_view bytes, Base64Alphabet alphabet) {
    std::string out(base64EncodedSize(bytes.size(), alphabet), '\0');
    base64EncodeTo(bytes, out.data(), alphabet);
    return out;
}

size_t base64DecodedMaxSize(size_t textBytes) {
    return textBytes / 4 * 3 + (textBytes % 4 * 3) / 4;
}

const char* base64DecodeTo(std::string_view text, char* out, size_t& size, Base64Alphabet alphabet) {
    size = 0;
    if (padded(alphabet)) {
        if (text.size() % 4 != 0) return "bad length";
        size_t pad = 0;
        while (pad < 2 && pad < text.size() && text[text.size() - 1 - pad] == '=') ++pad;
        text.remove_suffix(pad);
    }
    if (text.size() % 4 == 1) return "bad length";
    const auto& values = padded(alphabet) ? kStandardValues : kUrlValues;
    uint32_t bits = 0;
    int count = 0;  // bits held
    for (char c : text) {
        uint8_t v = values[static_cast<uint8_t>(c)];
        if (v == kInvalid) return c == '=' ? "bad padding" : "invalid character";
        bits = (bits << 6 | v) & 0xFFFFFF;
        count += 6;
        if (count >= 8) {
            count -= 8;
            out[size++] = static_cast<char>(bits >> count);
        }
    }
    if ((bits & ((1u << count) - 1)) != 0) return "nonzero trailing bits";
    return nullptr;
}

Result<std::string> base64Decode(std::string_view text, Base64Alphabet alphabet) {
    std::string out(base64DecodedMaxSize(text.size()), '\0');
    size_t size = 0;
    if (const char* error = base64DecodeTo(text, out.data(), size, alphabet))
        return Status(Code::InvalidArgument, std::string("base64: ") + error);
    out.resize(size);
    return out;
}

}  // namespace partyline
