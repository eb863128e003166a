// Room ids and subject tokens (bus/Subject). The input is used both ways: as a room id to encode,
// and as a token to decode.
// Checks: an id of 1 to kMaxRoomIdBytes bytes always encodes; the token is one valid NATS token
// (non-empty, only A-Z a-z 0-9 - _ =, so no '.', wildcard or whitespace) and decodes back to the
// id; a room subject built from it has exactly four tokens; a token that decodes is the only
// token of its id (encoding the decoded id gives it back).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "bus/Subject.h"

using namespace partyline;

namespace {

bool isTokenByte(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '=';
}

size_t countTokens(std::string_view subject) {
    size_t tokens = 1;
    for (char c : subject) tokens += c == '.';
    return tokens;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);

    auto token = encodeSubjectToken(input);
    bool acceptable = !input.empty() && input.size() <= kMaxRoomIdBytes;
    FUZZ_CHECK(token.isOk() == acceptable, "an id was refused or accepted against the size rule");
    if (token.isOk()) {
        FUZZ_CHECK(!token.value().empty(), "empty token");
        for (unsigned char c : token.value())
            FUZZ_CHECK(isTokenByte(c), "token byte outside A-Z a-z 0-9 - _ =");
        auto back = decodeSubjectToken(token.value());
        FUZZ_CHECK(back.isOk(), "an encoded token does not decode");
        FUZZ_CHECK(back.value() == input, "decode(encode(id)) differs from id");
        std::string subject = roomSubjects("partyline", "party", token.value()).log;
        FUZZ_CHECK(countTokens(subject) == 4, "room subject does not have four tokens");
    }

    auto decoded = decodeSubjectToken(input);
    if (decoded.isOk()) {
        auto again = encodeSubjectToken(decoded.value());
        FUZZ_CHECK(again.isOk(), "a decoded id does not encode");
        FUZZ_CHECK(again.value() == input, "a token decodes to an id whose token is another");
    }
    return 0;
}
