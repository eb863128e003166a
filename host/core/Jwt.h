// JSON Web Tokens (RFC 7519) in compact JWS form (RFC 7515): splitting a token, checking its
// signature and its registered claims, and signing. Used by room scripts (lua/JwtApi) and meant for
// connection auth in the HTTP layer, so it must not depend on Lua.
//
// It reads no JSON: the caller decodes the header and the payload with its JSON decoder (bounded
// depth and size) and hands over what they hold (Header, Claims). Signatures come from OpenSSL's
// libcrypto EVP (HMAC, RSA PKCS#1 v1.5, ECDSA P-256, Ed25519); nothing here is hand-written crypto.
//
// Algorithm confusion cannot happen: a key is either a shared secret (HS256/384/512 only) or a
// public/private key whose type fixes its one algorithm (RSA: RS256, P-256: ES256, Ed25519:
// EdDSA), and "none" is not an algorithm here at all.
//
// Thread-safe: a Key may be used from many threads at once once made.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/Status.h"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace partyline::jwt {

// A token is refused before any work when longer: real tokens are well under 2 KiB, and the bound
// caps the work and memory one token can cost.
inline constexpr size_t kMaxTokenBytes = 8192;
// A PEM key is refused when longer: an RSA 4096 public key in PEM is 800 bytes, a private one
// 3.3 KiB.
inline constexpr size_t kMaxPemBytes = 16384;
// RSA moduli outside this range are refused: under 2048 bits is breakable (RFC 7518 section 3.3
// forbids it), over 4096 costs a verifier more than a token is worth.
inline constexpr int kMinRsaBits = 2048;
inline constexpr int kMaxRsaBits = 4096;

// Why a token was refused; reasonText gives the words scripts and HTTP answers see.
enum class Reason {
    Ok,
    Malformed,            // not three base64url parts, a header or payload that is not a JSON object,
                          // a registered claim of the wrong type, an unknown critical header
    TooLarge,             // over kMaxTokenBytes
    AlgorithmNotAllowed,  // "none", an unknown alg, one not in the allowed list, or one the key is not for
    BadSignature,
    Expired,      // exp is not after now - leeway
    NotYetValid,  // nbf or iat after now + leeway
    Audience,     // an audience is expected and aud does not hold it
    Issuer,       // an issuer is expected and iss is not it
};
const char* reasonText(Reason reason);

enum class Algorithm : uint8_t { HS256, HS384, HS512, RS256, ES256, EdDSA };
// The algorithm a JWS "alg" names; nullopt for "none" and every name not listed above.
std::optional<Algorithm> algorithmNamed(std::string_view name);
const char* algorithmName(Algorithm algorithm);

// Which algorithms a verifier accepts.
class AlgorithmSet {
   public:
    void add(Algorithm a) { bits_ |= bit(a); }
    bool has(Algorithm a) const { return (bits_ & bit(a)) != 0; }
    bool empty() const { return bits_ == 0; }

   private:
    static uint8_t bit(Algorithm a) { return uint8_t(1u << static_cast<unsigned>(a)); }
    uint8_t bits_ = 0;
};

// A shared secret, or a public or private key read from PEM.
class Key {
   public:
    static Result<Key> secret(std::string_view bytes);
    // SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"): RSA, EC P-256 or Ed25519.
    static Result<Key> publicKey(std::string_view pem);
    // PKCS#8 or traditional PEM, unencrypted: RSA, EC P-256 or Ed25519.
    static Result<Key> privateKey(std::string_view pem);

    // Whether this key signs or verifies `algorithm`: HS* for a secret, the key type's one
    // algorithm otherwise.
    bool fits(Algorithm algorithm) const;
    // The one algorithm of a public or private key; nullopt for a secret (any HS*).
    std::optional<Algorithm> algorithm() const { return algorithm_; }
    bool isSecret() const { return !pkey_; }
    bool isPrivate() const { return private_; }

    // For the signing code: the secret's bytes, or libcrypto's key.
    std::string_view secretBytes() const { return secret_; }
    evp_pkey_st* pkey() const { return pkey_.get(); }

   private:
    struct Free {
        void operator()(evp_pkey_st* pkey) const;
    };
    static Result<Key> fromPem(std::string_view pem, bool isPrivate);

    std::string secret_;
    std::unique_ptr<evp_pkey_st, Free> pkey_;
    std::optional<Algorithm> algorithm_;  // of pkey_
    bool private_ = false;
};

// A compact JWS split into its parts, the first two base64url-decoded.
struct Token {
    std::string header;        // the JOSE header's JSON text
    std::string payload;       // the claims' JSON text
    std::string signature;     // raw signature bytes
    std::string signingInput;  // "header.payload" as the token wrote them: what the signature covers
};
// Malformed unless `text` is base64url "header.payload.signature" (no padding, nothing else) whose
// header and payload texts are JSON objects by their first character; TooLarge over kMaxTokenBytes.
// No JSON is decoded: the caller decodes header and payload.
Reason parse(std::string_view text, Token& out);

// What the caller read from the decoded header.
struct Header {
    std::optional<std::string> alg;  // absent when the header had no string "alg"
    bool critical = false;           // a "crit" member: extensions this verifier does not understand
};

// Checks that the header's alg is allowed and fits the key, then the signature over the token.
Reason verifySignature(const Token& token, const Header& header, const Key& key, AlgorithmSet allowed);

// The registered claims the caller read from the decoded payload.
struct Claims {
    std::optional<double> exp, nbf, iat;  // seconds since the epoch
    std::optional<std::string> issuer;
    std::vector<std::string> audience;  // "aud": a single string is a list of one
    bool hasAudience = false;
    bool malformed = false;  // a registered claim of the wrong type: exp as a string, aud as a number
};

struct Expected {
    std::optional<std::string> audience;  // aud must hold it
    std::optional<std::string> issuer;    // iss must be it
    int64_t leewaySeconds = 30;           // clocks of issuers and nodes differ by seconds
};

// Checks exp, nbf and iat against `nowSeconds`, then iss and aud.
Reason checkClaims(const Claims& claims, const Expected& expected, double nowSeconds);

// A compact JWS of `payloadJson` under the header {"alg":...,"typ":"JWT"}: HS* with a secret, or the
// algorithm of a private key. InvalidArgument when the key does not fit; TooLarge when the token
// would be over kMaxTokenBytes (no verifier here would accept it).
Result<std::string> sign(std::string_view payloadJson, Algorithm algorithm, const Key& key);

}  // namespace partyline::jwt
