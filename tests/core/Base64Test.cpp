// Base64: the RFC 4648 vectors in both alphabets, and strict decoding (one text per value).
#include <doctest/doctest.h>

#include "core/Base64.h"

using namespace partyline;

namespace {

std::string decodeOrReason(std::string_view text, Base64Alphabet alphabet) {
    Result<std::string> decoded = base64Decode(text, alphabet);
    return decoded ? *decoded : decoded.status().message();
}

}  // namespace

TEST_CASE("RFC 4648 section 10 vectors, padded and in the URL alphabet") {
    const std::pair<const char*, const char*> vectors[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    for (const auto& vector : vectors) {
        const char* bytes = vector.first;
        const char* text = vector.second;
        CAPTURE(bytes);
        std::string unpadded = std::string(text).substr(0, std::string(text).find('='));
        CHECK(base64Encode(bytes) == text);
        CHECK(base64Encode(bytes, Base64Alphabet::Url) == unpadded);
        CHECK(decodeOrReason(text, Base64Alphabet::Standard) == bytes);
        CHECK(decodeOrReason(unpadded, Base64Alphabet::Url) == bytes);
    }
}

TEST_CASE("the URL alphabet writes - and _ where the standard one writes + and /") {
    std::string bytes = "\xfb\xff\xbf";
    CHECK(base64Encode(bytes) == "+/+/");
    CHECK(base64Encode(bytes, Base64Alphabet::Url) == "-_-_");
    CHECK(decodeOrReason("-_-_", Base64Alphabet::Url) == bytes);
    CHECK(decodeOrReason("-_-_", Base64Alphabet::Standard) == "base64: invalid character");
    CHECK(decodeOrReason("+/+/", Base64Alphabet::Url) == "base64: invalid character");
}

TEST_CASE("every byte value round-trips in both alphabets") {
    std::string bytes;
    for (int i = 0; i < 256; ++i) bytes += static_cast<char>(i);
    for (size_t n = 0; n < 6; ++n) {
        std::string some = bytes.substr(n);
        CHECK(decodeOrReason(base64Encode(some), Base64Alphabet::Standard) == some);
        CHECK(decodeOrReason(base64Encode(some, Base64Alphabet::Url), Base64Alphabet::Url) == some);
    }
}

TEST_CASE("decoding refuses what is not exactly one encoding") {
    CHECK(decodeOrReason("Zg", Base64Alphabet::Standard) == "base64: bad length");
    CHECK(decodeOrReason("Zg=", Base64Alphabet::Standard) == "base64: bad length");
    CHECK(decodeOrReason("Zm9vY", Base64Alphabet::Url) == "base64: bad length");
    CHECK(decodeOrReason("Zg==", Base64Alphabet::Url) == "base64: bad padding");
    CHECK(decodeOrReason("Z===", Base64Alphabet::Standard) == "base64: bad padding");
    CHECK(decodeOrReason("Zg==Zg==", Base64Alphabet::Standard) == "base64: bad padding");
    CHECK(decodeOrReason("Zm9v\n", Base64Alphabet::Standard) == "base64: bad length");
    CHECK(decodeOrReason("Zm 9", Base64Alphabet::Standard) == "base64: invalid character");
    CHECK(decodeOrReason("Zh==", Base64Alphabet::Standard) == "base64: nonzero trailing bits");
    CHECK(decodeOrReason("Zh", Base64Alphabet::Url) == "base64: nonzero trailing bits");
    CHECK(decodeOrReason(std::string("Zm\0v", 4), Base64Alphabet::Standard) == "base64: invalid character");
}
