#include "core/Crypto.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdint>

namespace partyline::crypto {
namespace {

const char* digestName(Digest digest) {
    switch (digest) {
        case Digest::Sha256:
            return "SHA256";
        case Digest::Sha384:
            return "SHA384";
        case Digest::Sha512:
            return "SHA512";
    }
    return "SHA256";
}

// OpenSSL keeps errors in a per-thread queue: a failure here must not leave one behind for the
// next, unrelated caller on this thread to find.
bool failed() {
    ERR_clear_error();
    return false;
}

}  // namespace

size_t digestSize(Digest digest) {
    switch (digest) {
        case Digest::Sha256:
            return 32;
        case Digest::Sha384:
            return 48;
        case Digest::Sha512:
            return 64;
    }
    return 32;
}

bool hash(Digest digest, std::string_view data, unsigned char* out) {
    size_t size = 0;
    if (EVP_Q_digest(nullptr, digestName(digest), nullptr, data.data(), data.size(), out, &size) != 1)
        return failed();
    return size == digestSize(digest);
}

bool hmac(Digest digest, std::string_view key, std::string_view data, unsigned char* out) {
    // A key of no bytes is valid HMAC; libcrypto wants a non-null pointer for it.
    static const unsigned char kNoKey = 0;
    const auto* keyBytes = key.empty() ? &kNoKey : reinterpret_cast<const unsigned char*>(key.data());
    size_t size = 0;
    if (!EVP_Q_mac(nullptr, "HMAC", nullptr, digestName(digest), nullptr, keyBytes, key.size(),
                   reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, kMaxDigestBytes,
                   &size))
        return failed();
    return size == digestSize(digest);
}

bool randomBytes(unsigned char* out, size_t size) {
    if (size == 0) return true;
    if (size > static_cast<size_t>(INT32_MAX)) return false;
    if (RAND_bytes(out, static_cast<int>(size)) != 1) return failed();
    return true;
}

bool equal(std::string_view a, std::string_view b) {
    return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void hexTo(const unsigned char* bytes, size_t size, char* out) {
    static constexpr char kHex[] = "0123456789abcdef";
    for (size_t i = 0; i < size; ++i) {
        *out++ = kHex[bytes[i] >> 4];
        *out++ = kHex[bytes[i] & 15];
    }
}

}  // namespace partyline::crypto
