// Base64 (RFC 4648): binary writes inside JSON frames, the WebSocket accept key, room scripts'
// base64 library and the parts of a JWT.
//
// Two alphabets: Standard ("+/", padded with '=') and Url ("-_", no padding, as JWS writes it).
// Decoding is strict, so each text has one meaning: only the alphabet's characters (no whitespace),
// Standard needs its padding and Url refuses it, and the bits past the last whole byte must be zero.
// The *To functions write into a buffer the caller sized and allocate nothing, for callers that
// must not hold a C++ object (Lua C functions).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "core/Status.h"

namespace partyline {

enum class Base64Alphabet { Standard, Url };

// Bytes the encoding of `bytes` input bytes takes.
size_t base64EncodedSize(size_t bytes, Base64Alphabet alphabet);
// Writes the encoding of `bytes` to `out`, which holds base64EncodedSize(bytes.size()) bytes.
void base64EncodeTo(std::string_view bytes, char* out, Base64Alphabet alphabet);
std::string base64Encode(std::string_view bytes, Base64Alphabet alphabet = Base64Alphabet::Standard);

// The most bytes decoding `textBytes` of text can give.
size_t base64DecodedMaxSize(size_t textBytes);
// Decodes `text` into `out`, which holds base64DecodedMaxSize(text.size()) bytes, and sets `size`.
// Returns nullptr, or why the text is not base64 ("invalid character", "bad length", "bad padding",
// "nonzero trailing bits"), a static string.
const char* base64DecodeTo(std::string_view text, char* out, size_t& size, Base64Alphabet alphabet);
// InvalidArgument with that reason when the text is not base64.
Result<std::string> base64Decode(std::string_view text, Base64Alphabet alphabet = Base64Alphabet::Standard);

}  // namespace partyline
