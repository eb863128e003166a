// Digests, HMACs, random bytes and constant-time comparison from OpenSSL's libcrypto (EVP), for
// room scripts' crypto library and for JWT signatures. Nothing here is hand-written crypto.
//
// The functions write into buffers the caller provides and allocate nothing the caller must free,
// so Lua C functions may call them with no C++ object alive. Thread-safe: OpenSSL 3's EVP calls
// keep no shared mutable state.
#pragma once

#include <cstddef>
#include <string_view>

namespace partyline::crypto {

enum class Digest { Sha256, Sha384, Sha512 };

// The largest digest (SHA-512): the size of an output buffer that fits any.
inline constexpr size_t kMaxDigestBytes = 64;

size_t digestSize(Digest digest);

// Writes the digest of `data` to `out` (digestSize bytes). False only when libcrypto fails.
bool hash(Digest digest, std::string_view data, unsigned char* out);

// Writes HMAC(key, data) (RFC 2104) to `out` (digestSize bytes). False only when libcrypto fails.
bool hmac(Digest digest, std::string_view key, std::string_view data, unsigned char* out);

// Fills `out` from the operating system's CSPRNG (RAND_bytes). False when it cannot.
bool randomBytes(unsigned char* out, size_t size);

// Whether a and b hold the same bytes, in time that depends on their lengths only (CRYPTO_memcmp).
bool equal(std::string_view a, std::string_view b);

// Writes the lowercase hex of `bytes` to `out` (2 * size chars, no terminator).
void hexTo(const unsigned char* bytes, size_t size, char* out);

}  // namespace partyline::crypto
