#include "core/Jwt.h"

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstring>

#include "core/Base64.h"
#include "core/Crypto.h"

namespace partyline::jwt {
namespace {

// ES256 signatures are r || s, each 32 bytes big-endian (RFC 7518 section 3.4); libcrypto reads and
// writes them DER-encoded.
constexpr size_t kEs256Half = 32;

struct FreeBio {
    void operator()(BIO* bio) const { BIO_free(bio); }
};
struct FreeMdCtx {
    void operator()(EVP_MD_CTX* ctx) const { EVP_MD_CTX_free(ctx); }
};
struct FreeEcdsaSig {
    void operator()(ECDSA_SIG* sig) const { ECDSA_SIG_free(sig); }
};

// OpenSSL queues errors per thread; a refusal here must not leave one for an unrelated later call.
template <class T>
T cleared(T value) {
    ERR_clear_error();
    return value;
}

// Encrypted PEM keys are refused rather than prompting for a password on the terminal.
int noPassword(char*, int, int, void*) {
    return 0;
}

crypto::Digest hmacDigest(Algorithm algorithm) {
    if (algorithm == Algorithm::HS384) return crypto::Digest::Sha384;
    if (algorithm == Algorithm::HS512) return crypto::Digest::Sha512;
    return crypto::Digest::Sha256;
}

bool isHmac(Algorithm algorithm) {
    return algorithm == Algorithm::HS256 || algorithm == Algorithm::HS384 || algorithm == Algorithm::HS512;
}

// The one algorithm a key of this type is for, or why it is refused.
Result<Algorithm> algorithmOf(EVP_PKEY* pkey) {
    if (EVP_PKEY_is_a(pkey, "RSA")) {
        int bits = EVP_PKEY_get_bits(pkey);
        if (bits < kMinRsaBits || bits > kMaxRsaBits)
            return Status(Code::InvalidArgument, "RSA keys must have " + std::to_string(kMinRsaBits) +
                                                     " to " + std::to_string(kMaxRsaBits) +
                                                     " bits, this one has " + std::to_string(bits));
        return Algorithm::RS256;
    }
    if (EVP_PKEY_is_a(pkey, "EC")) {
        char group[64] = {};
        size_t size = 0;
        if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group, &size) !=
                1 ||
            std::strcmp(group, "prime256v1") != 0)
            return cleared(Status(Code::InvalidArgument, "EC keys must be on the P-256 curve (ES256)"));
        return Algorithm::ES256;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519")) return Algorithm::EdDSA;
    return Status(Code::InvalidArgument, "the key must be RSA, EC P-256 or Ed25519");
}

// DER of the ECDSA signature r || s, or "" when it is not 64 bytes.
std::string derFromRaw(std::string_view raw) {
    if (raw.size() != 2 * kEs256Half) return "";
    const auto* bytes = reinterpret_cast<const unsigned char*>(raw.data());
    std::unique_ptr<ECDSA_SIG, FreeEcdsaSig> sig(ECDSA_SIG_new());
    BIGNUM* r = BN_bin2bn(bytes, kEs256Half, nullptr);
    BIGNUM* s = BN_bin2bn(bytes + kEs256Half, kEs256Half, nullptr);
    if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
        BN_free(r);
        BN_free(s);
        return cleared(std::string());
    }
    int size = i2d_ECDSA_SIG(sig.get(), nullptr);
    if (size <= 0) return cleared(std::string());
    std::string der(static_cast<size_t>(size), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    i2d_ECDSA_SIG(sig.get(), &out);
    return der;
}

// r || s of a DER ECDSA signature, or "" when it cannot be read.
std::string rawFromDer(std::string_view der) {
    const auto* in = reinterpret_cast<const unsigned char*>(der.data());
    std::unique_ptr<ECDSA_SIG, FreeEcdsaSig> sig(d2i_ECDSA_SIG(nullptr, &in, static_cast<long>(der.size())));
    if (!sig) return cleared(std::string());
    const BIGNUM* r = nullptr;
    const BIGNUM* s = nullptr;
    ECDSA_SIG_get0(sig.get(), &r, &s);
    std::string raw(2 * kEs256Half, '\0');
    auto* out = reinterpret_cast<unsigned char*>(raw.data());
    if (BN_bn2binpad(r, out, kEs256Half) < 0 || BN_bn2binpad(s, out + kEs256Half, kEs256Half) < 0)
        return cleared(std::string());
    return raw;
}

// The message digest EVP_DigestSign/Verify take: none for Ed25519, which hashes by itself.
const EVP_MD* digestFor(Algorithm algorithm) {
    return algorithm == Algorithm::EdDSA ? nullptr : EVP_sha256();
}

bool verifyPublic(Algorithm algorithm, EVP_PKEY* pkey, std::string_view input, std::string_view signature) {
    std::string der;
    if (algorithm == Algorithm::ES256) {
        der = derFromRaw(signature);
        if (der.empty()) return false;
        signature = der;
    }
    std::unique_ptr<EVP_MD_CTX, FreeMdCtx> ctx(EVP_MD_CTX_new());
    if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, digestFor(algorithm), nullptr, pkey) != 1)
        return cleared(false);
    int rc = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                              signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                              input.size());
    return cleared(rc == 1);
}

bool verifyHmac(Algorithm algorithm, std::string_view secret, std::string_view input,
                std::string_view signature) {
    unsigned char mac[crypto::kMaxDigestBytes];
    crypto::Digest digest = hmacDigest(algorithm);
    if (!crypto::hmac(digest, secret, input, mac)) return false;
    return crypto::equal(signature,
                         std::string_view(reinterpret_cast<char*>(mac), crypto::digestSize(digest)));
}

Result<std::string> signPrivate(Algorithm algorithm, EVP_PKEY* pkey, std::string_view input) {
    std::unique_ptr<EVP_MD_CTX, FreeMdCtx> ctx(EVP_MD_CTX_new());
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    size_t size = 0;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, digestFor(algorithm), nullptr, pkey) != 1 ||
        EVP_DigestSign(ctx.get(), nullptr, &size, data, input.size()) != 1)
        return cleared(Status(Code::Internal, "jwt: libcrypto cannot sign"));
    std::string signature(size, '\0');
    if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(signature.data()), &size, data,
                       input.size()) != 1)
        return cleared(Status(Code::Internal, "jwt: libcrypto cannot sign"));
    signature.resize(size);
    if (algorithm != Algorithm::ES256) return signature;
    std::string raw = rawFromDer(signature);
    if (raw.empty()) return Status(Code::Internal, "jwt: libcrypto gave an unreadable ECDSA signature");
    return raw;
}

Result<std::string> signHmac(Algorithm algorithm, std::string_view secret, std::string_view input) {
    unsigned char mac[crypto::kMaxDigestBytes];
    crypto::Digest digest = hmacDigest(algorithm);
    if (!crypto::hmac(digest, secret, input, mac))
        return Status(Code::Internal, "jwt: libcrypto cannot sign");
    return std::string(reinterpret_cast<char*>(mac), crypto::digestSize(digest));
}

bool decodePart(std::string_view text, std::string& out) {
    out.assign(base64DecodedMaxSize(text.size()), '\0');
    size_t size = 0;
    if (base64DecodeTo(text, out.data(), size, Base64Alphabet::Url)) return false;
    out.resize(size);
    return true;
}

// Whether JSON text starts an object: a JSON array decodes to a Lua table too, and must not pass
// for claims.
bool opensObject(std::string_view json) {
    size_t at = json.find_first_not_of(" \t\r\n");
    return at != std::string_view::npos && json[at] == '{';
}

void appendPart(std::string& token, std::string_view bytes) {
    size_t at = token.size();
    token.resize(at + base64EncodedSize(bytes.size(), Base64Alphabet::Url));
    base64EncodeTo(bytes, token.data() + at, Base64Alphabet::Url);
}

}  // namespace

const char* reasonText(Reason reason) {
    switch (reason) {
        case Reason::Ok:
            return "ok";
        case Reason::Malformed:
            return "malformed";
        case Reason::TooLarge:
            return "too large";
        case Reason::AlgorithmNotAllowed:
            return "algorithm not allowed";
        case Reason::BadSignature:
            return "bad signature";
        case Reason::Expired:
            return "expired";
        case Reason::NotYetValid:
            return "not yet valid";
        case Reason::Audience:
            return "audience";
        case Reason::Issuer:
            return "issuer";
    }
    return "malformed";
}

std::optional<Algorithm> algorithmNamed(std::string_view name) {
    constexpr Algorithm kAll[] = {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512,
                                  Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA};
    for (Algorithm a : kAll)
        if (name == algorithmName(a)) return a;
    return std::nullopt;
}

const char* algorithmName(Algorithm algorithm) {
    switch (algorithm) {
        case Algorithm::HS256:
            return "HS256";
        case Algorithm::HS384:
            return "HS384";
        case Algorithm::HS512:
            return "HS512";
        case Algorithm::RS256:
            return "RS256";
        case Algorithm::ES256:
            return "ES256";
        case Algorithm::EdDSA:
            return "EdDSA";
    }
    return "?";
}

void Key::Free::operator()(evp_pkey_st* pkey) const {
    EVP_PKEY_free(pkey);
}

Result<Key> Key::secret(std::string_view bytes) {
    if (bytes.empty()) return Status(Code::InvalidArgument, "the secret is empty");
    Key key;
    key.secret_ = std::string(bytes);
    return key;
}

Result<Key> Key::publicKey(std::string_view pem) {
    return fromPem(pem, false);
}

Result<Key> Key::privateKey(std::string_view pem) {
    return fromPem(pem, true);
}

Result<Key> Key::fromPem(std::string_view pem, bool isPrivate) {
    const char* kind = isPrivate ? "private" : "public";
    if (pem.size() > kMaxPemBytes)
        return Status(Code::TooLarge,
                      std::string("the ") + kind + " key is over " + std::to_string(kMaxPemBytes) + " bytes");
    std::unique_ptr<BIO, FreeBio> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) return cleared(Status(Code::ResourceExhausted, "jwt: libcrypto is out of memory"));
    EVP_PKEY* read = isPrivate ? PEM_read_bio_PrivateKey(bio.get(), nullptr, noPassword, nullptr)
                               : PEM_read_bio_PUBKEY(bio.get(), nullptr, noPassword, nullptr);
    if (!read)
        return cleared(Status(Code::InvalidArgument, std::string("not a PEM ") + kind + " key" +
                                                         (isPrivate ? " (unencrypted)" : "")));
    Key key;
    key.pkey_.reset(read);
    Result<Algorithm> algorithm = algorithmOf(read);
    if (!algorithm) return algorithm.status();
    key.algorithm_ = *algorithm;
    key.private_ = isPrivate;
    return key;
}

bool Key::fits(Algorithm algorithm) const {
    return isSecret() ? isHmac(algorithm) : algorithm_ == algorithm;
}

Reason parse(std::string_view text, Token& out) {
    if (text.size() > kMaxTokenBytes) return Reason::TooLarge;
    size_t first = text.find('.');
    size_t second = first == std::string_view::npos ? first : text.find('.', first + 1);
    if (second == std::string_view::npos || text.find('.', second + 1) != std::string_view::npos)
        return Reason::Malformed;
    if (!decodePart(text.substr(0, first), out.header) ||
        !decodePart(text.substr(first + 1, second - first - 1), out.payload) ||
        !decodePart(text.substr(second + 1), out.signature))
        return Reason::Malformed;
    if (!opensObject(out.header) || !opensObject(out.payload)) return Reason::Malformed;
    out.signingInput.assign(text.substr(0, second));
    return Reason::Ok;
}

Reason verifySignature(const Token& token, const Header& header, const Key& key, AlgorithmSet allowed) {
    if (!header.alg) return Reason::Malformed;
    std::optional<Algorithm> algorithm = algorithmNamed(*header.alg);
    if (!algorithm || !allowed.has(*algorithm) || !key.fits(*algorithm)) return Reason::AlgorithmNotAllowed;
    if (header.critical) return Reason::Malformed;
    bool good = key.isSecret()
                    ? verifyHmac(*algorithm, key.secretBytes(), token.signingInput, token.signature)
                    : verifyPublic(*algorithm, key.pkey(), token.signingInput, token.signature);
    return good ? Reason::Ok : Reason::BadSignature;
}

Reason checkClaims(const Claims& claims, const Expected& expected, double nowSeconds) {
    if (claims.malformed) return Reason::Malformed;
    auto leeway = static_cast<double>(expected.leewaySeconds);
    if (claims.exp && !(nowSeconds - leeway < *claims.exp)) return Reason::Expired;
    if (claims.nbf && *claims.nbf > nowSeconds + leeway) return Reason::NotYetValid;
    if (claims.iat && *claims.iat > nowSeconds + leeway) return Reason::NotYetValid;
    if (expected.issuer && claims.issuer != expected.issuer) return Reason::Issuer;
    if (expected.audience && std::find(claims.audience.begin(), claims.audience.end(), *expected.audience) ==
                                 claims.audience.end())
        return Reason::Audience;
    return Reason::Ok;
}

Result<std::string> sign(std::string_view payloadJson, Algorithm algorithm, const Key& key) {
    if (!key.fits(algorithm) || !(key.isSecret() || key.isPrivate()))
        return Status(Code::InvalidArgument,
                      std::string("the key cannot sign ") + algorithmName(algorithm) +
                          (key.isSecret() ? " (a secret signs HS256, HS384 or HS512)"
                                          : " (it must be the private key of that algorithm)"));
    std::string header = std::string(R"({"alg":")") + algorithmName(algorithm) + R"(","typ":"JWT"})";
    size_t unsigned_ = base64EncodedSize(header.size(), Base64Alphabet::Url) + 1 +
                       base64EncodedSize(payloadJson.size(), Base64Alphabet::Url);
    if (unsigned_ > kMaxTokenBytes)
        return Status(Code::TooLarge, "the token would be over " + std::to_string(kMaxTokenBytes) + " bytes");
    std::string token;
    token.reserve(unsigned_ + 1 + base64EncodedSize(512, Base64Alphabet::Url));
    appendPart(token, header);
    token += '.';
    appendPart(token, payloadJson);
    Result<std::string> signature = key.isSecret() ? signHmac(algorithm, key.secretBytes(), token)
                                                   : signPrivate(algorithm, key.pkey(), token);
    if (!signature) return signature.status();
    token += '.';
    appendPart(token, *signature);
    if (token.size() > kMaxTokenBytes)
        return Status(Code::TooLarge, "the token would be over " + std::to_string(kMaxTokenBytes) + " bytes");
    return token;
}

}  // namespace partyline::jwt
