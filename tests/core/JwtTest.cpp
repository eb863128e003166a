// The JWT core without Lua: splitting tokens, signatures for each algorithm with keys made here,
// algorithm confusion, key refusals and the registered claims against a clock.
#include <doctest/doctest.h>

#include "core/Base64.h"
#include "core/Jwt.h"
#include "core/TestKeys.h"

using namespace partyline;
using jwt::Algorithm;
using jwt::Reason;

namespace {

jwt::Key key(Result<jwt::Key> made) {
    REQUIRE_MESSAGE(made.isOk(), made.status().toString());
    return std::move(made).value();
}

jwt::AlgorithmSet only(Algorithm a) {
    jwt::AlgorithmSet set;
    set.add(a);
    return set;
}

jwt::AlgorithmSet all() {
    jwt::AlgorithmSet set;
    for (Algorithm a : {Algorithm::HS256, Algorithm::HS384, Algorithm::HS512, Algorithm::RS256,
                        Algorithm::ES256, Algorithm::EdDSA})
        set.add(a);
    return set;
}

std::string signed_(std::string_view payload, Algorithm a, const jwt::Key& k) {
    Result<std::string> token = jwt::sign(payload, a, k);
    REQUIRE_MESSAGE(token.isOk(), token.status().toString());
    return *token;
}

// Parses `text` and checks its signature as if its header's alg were `alg`.
Reason verified(std::string_view text, std::string_view alg, const jwt::Key& k, jwt::AlgorithmSet allowed) {
    jwt::Token token;
    Reason parsed = jwt::parse(text, token);
    if (parsed != Reason::Ok) return parsed;
    return jwt::verifySignature(token, jwt::Header{std::string(alg)}, k, allowed);
}

std::string part(std::string_view json) {
    return base64Encode(json, Base64Alphabet::Url);
}

}  // namespace

TEST_CASE("each algorithm signs a token that verifies, and a changed byte does not") {
    struct Case {
        Algorithm algorithm;
        jwt::Key signer, verifier;
    };
    Case cases[] = {
        {Algorithm::HS256, key(jwt::Key::secret("s3cret")), key(jwt::Key::secret("s3cret"))},
        {Algorithm::HS384, key(jwt::Key::secret("s3cret")), key(jwt::Key::secret("s3cret"))},
        {Algorithm::HS512, key(jwt::Key::secret("s3cret")), key(jwt::Key::secret("s3cret"))},
        {Algorithm::RS256, key(jwt::Key::privateKey(testing::rsaKeys().privatePem)),
         key(jwt::Key::publicKey(testing::rsaKeys().publicPem))},
        {Algorithm::ES256, key(jwt::Key::privateKey(testing::ecKeys().privatePem)),
         key(jwt::Key::publicKey(testing::ecKeys().publicPem))},
        {Algorithm::EdDSA, key(jwt::Key::privateKey(testing::ed25519Keys().privatePem)),
         key(jwt::Key::publicKey(testing::ed25519Keys().publicPem))},
    };
    for (const Case& c : cases) {
        const char* name = jwt::algorithmName(c.algorithm);
        CAPTURE(name);
        std::string token = signed_(R"({"sub":"ada"})", c.algorithm, c.signer);
        jwt::Token parts;
        REQUIRE(jwt::parse(token, parts) == Reason::Ok);
        CHECK(parts.header == std::string(R"({"alg":")") + name + R"(","typ":"JWT"})");
        CHECK(parts.payload == R"({"sub":"ada"})");
        CHECK(verified(token, name, c.verifier, all()) == Reason::Ok);
        CHECK(verified(token, name, c.signer, all()) == Reason::Ok);  // a private key holds its public one

        std::string changed = token;
        char& last = changed[changed.rfind('.') + 2];
        last = last == 'A' ? 'B' : 'A';
        CHECK(verified(changed, name, c.verifier, all()) == Reason::BadSignature);
        std::string otherClaims =
            part(R"({"alg":"x"})") + "." + part(R"({"sub":"eve"})") + token.substr(token.rfind('.'));
        CHECK(verified(otherClaims, name, c.verifier, all()) == Reason::BadSignature);
    }
}

TEST_CASE("ES256 signatures are r||s, 64 bytes, and a DER signature is refused") {
    jwt::Key signer = key(jwt::Key::privateKey(testing::ecKeys().privatePem));
    jwt::Key verifier = key(jwt::Key::publicKey(testing::ecKeys().publicPem));
    std::string token = signed_(R"({"n":1})", Algorithm::ES256, signer);
    jwt::Token parts;
    REQUIRE(jwt::parse(token, parts) == Reason::Ok);
    CHECK(parts.signature.size() == 64);
    std::string truncated = token.substr(0, token.size() - 2);
    CHECK(verified(truncated, "ES256", verifier, all()) == Reason::BadSignature);
}

TEST_CASE("algorithm confusion: a key verifies only its own algorithms") {
    jwt::Key rsa = key(jwt::Key::publicKey(testing::rsaKeys().publicPem));
    jwt::Key ec = key(jwt::Key::publicKey(testing::ecKeys().publicPem));
    jwt::Key secret = key(jwt::Key::secret(testing::rsaKeys().publicPem));
    // HS256 made with the RSA public key's PEM as the secret, as an attacker who has that PEM could.
    std::string forged = signed_(R"({"admin":true})", Algorithm::HS256, secret);
    CHECK(verified(forged, "HS256", rsa, all()) == Reason::AlgorithmNotAllowed);
    CHECK(verified(forged, "RS256", rsa, all()) == Reason::BadSignature);
    std::string es =
        signed_(R"({"n":1})", Algorithm::ES256, key(jwt::Key::privateKey(testing::ecKeys().privatePem)));
    CHECK(verified(es, "ES256", rsa, all()) == Reason::AlgorithmNotAllowed);
    CHECK(verified(es, "ES256", secret, all()) == Reason::AlgorithmNotAllowed);
    CHECK(verified(es, "ES256", ec, only(Algorithm::RS256)) == Reason::AlgorithmNotAllowed);
    CHECK(verified(es, "ES256", ec, only(Algorithm::ES256)) == Reason::Ok);
}

TEST_CASE("none and unknown algorithms are never accepted; a header without alg is malformed") {
    jwt::Key secret = key(jwt::Key::secret("k"));
    std::string unsigned_ = part(R"({"alg":"none"})") + "." + part(R"({"sub":"x"})") + ".";
    CHECK(!jwt::algorithmNamed("none"));
    CHECK(!jwt::algorithmNamed("hs256"));
    CHECK(verified(unsigned_, "none", secret, all()) == Reason::AlgorithmNotAllowed);
    CHECK(verified(unsigned_, "HS1", secret, all()) == Reason::AlgorithmNotAllowed);
    jwt::Token token;
    REQUIRE(jwt::parse(unsigned_, token) == Reason::Ok);
    CHECK(jwt::verifySignature(token, jwt::Header{}, secret, all()) == Reason::Malformed);
    CHECK(jwt::verifySignature(token, jwt::Header{"HS256", true}, secret, all()) == Reason::Malformed);
}

TEST_CASE("parse takes three base64url parts of JSON objects, at most 8 KiB") {
    std::string h = part(R"({"alg":"HS256"})"), p = part(R"({"a":1})");
    jwt::Token token;
    CHECK(jwt::parse(h + "." + p + ".c2ln", token) == Reason::Ok);
    CHECK(token.signature == "sig");
    CHECK(token.signingInput == h + "." + p);
    CHECK(jwt::parse(h + "." + p, token) == Reason::Malformed);
    CHECK(jwt::parse(h + "." + p + ".c2ln.c2ln", token) == Reason::Malformed);
    CHECK(jwt::parse(h + "." + p + ".c2ln=", token) == Reason::Malformed);
    CHECK(jwt::parse(h + "." + p + ".c2l+", token) == Reason::Malformed);
    CHECK(jwt::parse("." + p + ".c2ln", token) == Reason::Malformed);
    CHECK(jwt::parse(h + "." + part("[1]") + ".c2ln", token) == Reason::Malformed);
    CHECK(jwt::parse(h + "." + part(" \n{}") + ".c2ln", token) == Reason::Ok);
    CHECK(jwt::parse("", token) == Reason::Malformed);
    std::string big = h + "." + part(R"({"pad":")" + std::string(6200, 'x') + R"("})") + ".c2ln";
    CHECK(big.size() > jwt::kMaxTokenBytes);
    CHECK(jwt::parse(big, token) == Reason::TooLarge);
}

TEST_CASE("keys: weak, odd or garbled keys are refused, and a public key cannot sign") {
    CHECK(jwt::Key::secret("").status().message() == "the secret is empty");
    CHECK(jwt::Key::publicKey("-----BEGIN PUBLIC KEY-----\nnot\n-----END PUBLIC KEY-----\n")
              .status()
              .message() == "not a PEM public key");
    CHECK(jwt::Key::privateKey(testing::rsaKeys().publicPem).status().message() ==
          "not a PEM private key (unencrypted)");
    CHECK(jwt::Key::publicKey(std::string(jwt::kMaxPemBytes + 1, 'a')).status().code() == Code::TooLarge);
    CHECK(jwt::Key::publicKey(testing::makeKeyPair("RSA", size_t{1024}).publicPem).status().message() ==
          "RSA keys must have 2048 to 4096 bits, this one has 1024");
    CHECK(jwt::Key::publicKey(testing::makeKeyPair("EC", "P-384").publicPem).status().message() ==
          "EC keys must be on the P-256 curve (ES256)");
    CHECK(jwt::Key::publicKey(testing::makeKeyPair("X25519").publicPem).status().message() ==
          "the key must be RSA, EC P-256 or Ed25519");
    jwt::Key rsa = key(jwt::Key::publicKey(testing::rsaKeys().publicPem));
    CHECK(jwt::sign("{}", Algorithm::RS256, rsa).status().code() == Code::InvalidArgument);
    CHECK(jwt::sign("{}", Algorithm::HS256, rsa).status().code() == Code::InvalidArgument);
    CHECK(jwt::sign("{}", Algorithm::RS256, key(jwt::Key::secret("k"))).status().code() ==
          Code::InvalidArgument);
    CHECK(jwt::sign(std::string(7000, ' ') + "{}", Algorithm::HS256, key(jwt::Key::secret("k")))
              .status()
              .code() == Code::TooLarge);
}

TEST_CASE("claims: exp, nbf and iat against the clock with leeway, then iss and aud") {
    const double now = 1'700'000'000;
    jwt::Expected expected;  // leeway 30 s
    auto check = [&](jwt::Claims claims) { return jwt::checkClaims(claims, expected, now); };
    jwt::Claims none;
    CHECK(check(none) == Reason::Ok);
    jwt::Claims c;
    c.exp = now - 29;
    CHECK(check(c) == Reason::Ok);
    c.exp = now - 30;
    CHECK(check(c) == Reason::Expired);
    c = {};
    c.nbf = now + 30;
    CHECK(check(c) == Reason::Ok);
    c.nbf = now + 31;
    CHECK(check(c) == Reason::NotYetValid);
    c = {};
    c.iat = now + 31;
    CHECK(check(c) == Reason::NotYetValid);
    c = {};
    c.malformed = true;
    CHECK(check(c) == Reason::Malformed);

    expected.leewaySeconds = 0;
    c = {};
    c.exp = now + 0.5;
    CHECK(check(c) == Reason::Ok);
    c.exp = now;
    CHECK(check(c) == Reason::Expired);

    expected.issuer = "https://auth.example.com";
    c = {};
    CHECK(check(c) == Reason::Issuer);
    c.issuer = "https://auth.example.com/";
    CHECK(check(c) == Reason::Issuer);
    c.issuer = "https://auth.example.com";
    CHECK(check(c) == Reason::Ok);

    expected.audience = "partyline";
    CHECK(check(c) == Reason::Audience);
    c.audience = {"other", "partyline"};
    CHECK(check(c) == Reason::Ok);
    c.audience = {"other"};
    CHECK(check(c) == Reason::Audience);
}
