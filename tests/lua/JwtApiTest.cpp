// jwt.verify and jwt.sign as room scripts call them: a round trip for every algorithm, each reason a
// token is refused, alg none, algorithm confusion, hostile tokens (a 2 KiB kid, exp as a string,
// claims nested 1,000 deep, over 8 KiB), mistakes in the options, and the budget charge.
#include "LuaTesting.h"
#include "core/TestKeys.h"

namespace partyline::lua {
namespace {

using testing::load;
using testing::newState;

// Tokens made by hand in Lua, so a test can write any header and claims and sign them HS256.
constexpr const char* kPrelude = R"(
    NOW = now() // 1000
    function part(s) return base64.urlencode(s) end
    function hs256(header, claims, secret)
        local input = part(header) .. "." .. part(claims)
        return input .. "." .. part(crypto.hmac_sha256_raw(secret or "k", input))
    end
    OPTS = {secret = "k", algorithms = {"HS256"}}
    -- "ok" and the claims as JSON, or the reason.
    function check(token, opts)
        local claims, reason = jwt.verify(token, opts or OPTS)
        if claims then return "ok " .. json.encode(claims) end
        assert(claims == nil and type(reason) == "string")
        return reason
    end
)";

std::unique_ptr<State> jwtState(Budget budget = testing::kDefaultBudget) {
    auto state = newState(budget);
    lua_State* L = state->L();
    const std::pair<const char*, std::string> keys[] = {
        {"RSA_PUBLIC", partyline::testing::rsaKeys().publicPem},
        {"RSA_PRIVATE", partyline::testing::rsaKeys().privatePem},
        {"EC_PUBLIC", partyline::testing::ecKeys().publicPem},
        {"EC_PRIVATE", partyline::testing::ecKeys().privatePem},
        {"ED_PUBLIC", partyline::testing::ed25519Keys().publicPem},
        {"ED_PRIVATE", partyline::testing::ed25519Keys().privatePem},
    };
    for (const auto& [name, pem] : keys) {
        lua_pushlstring(L, pem.data(), pem.size());
        lua_setglobal(L, name);
    }
    REQUIRE(load(*state, kPrelude).finished());
    return state;
}

std::string value(State& state, std::string_view script) {
    auto outcome = load(state, script);
    REQUIRE_MESSAGE(outcome.finished(), outcome.error.toString());
    return outcome.value;
}

std::string error(State& state, std::string_view script) {
    auto outcome = load(state, script);
    REQUIRE(outcome.failed());
    return outcome.error.message();
}

TEST_CASE("every algorithm signs a token that verifies, giving the claims as a table") {
    auto state = jwtState();
    CHECK(value(*state, R"(
        local claims = {sub = "ada", n = 3, nested = {list = {1, 2}, yes = true}, exp = NOW + 60}
        local out = {}
        for _, case in ipairs({
            {"HS256", {secret = "k"}, {secret = "k"}},
            {"HS384", {secret = "k"}, {secret = "k"}},
            {"HS512", {secret = "k"}, {secret = "k"}},
            {"RS256", {private_key = RSA_PRIVATE}, {public_key = RSA_PUBLIC}},
            {"ES256", {private_key = EC_PRIVATE}, {public_key = EC_PUBLIC}},
            {"EdDSA", {private_key = ED_PRIVATE}, {public_key = ED_PUBLIC}},
        }) do
            local alg, signOpts, verifyOpts = case[1], case[2], case[3]
            if signOpts.secret then signOpts.alg = alg end
            local token = jwt.sign(claims, signOpts)
            local header = json.decode(base64.urldecode(token:match("^[^.]+")))
            verifyOpts.algorithms = {alg}
            local got, reason = jwt.verify(token, verifyOpts)
            out[#out + 1] = header.alg .. "=" .. (got and (got.sub .. got.nested.list[2] .. tostring(got.nested.yes))
                                                  or reason)
        end
        return table.concat(out, " ")
    )") == "HS256=ada2true HS384=ada2true HS512=ada2true RS256=ada2true ES256=ada2true EdDSA=ada2true");
    CHECK(value(*state,
                R"(return json.decode(base64.urldecode(jwt.sign({}, {secret = "k"}):match("%.(.+)%."))).x
                           == nil and jwt.sign({}, {secret = "k"}):match("^[^.]+"))") ==
          "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9");  // {"alg":"HS256","typ":"JWT"}: HS256 is the default
}

TEST_CASE("each reason a token is refused") {
    auto state = jwtState();
    CHECK(value(*state, R"(
        local function claims(t) return json.encode(t) end
        local h = '{"alg":"HS256","typ":"JWT"}'
        local audOpts = {secret = "k", algorithms = {"HS256"}, audience = "partyline"}
        local issOpts = {secret = "k", algorithms = {"HS256"}, issuer = "https://auth.example.com"}
        return table.concat({
            (check(hs256(h, claims({exp = NOW + 60, sub = "a"}))):gsub('"exp":%d+', '"exp":N')),
            check(hs256(h, claims({exp = NOW - 60}))),
            check(hs256(h, claims({nbf = NOW + 60}))),
            check(hs256(h, claims({iat = NOW + 60}))),
            check(hs256(h, claims({sub = "a"}), "other")),
            check(hs256('{"alg":"HS384"}', claims({sub = "a"}))),
            check(hs256(h, claims({aud = "other"})), audOpts),
            check(hs256(h, claims({aud = {"other", "partyline"}})), audOpts),
            check(hs256(h, claims({sub = "no aud"})), audOpts),
            check(hs256(h, claims({iss = "https://evil.example.com"})), issOpts),
            check(hs256(h, claims({iss = "https://auth.example.com"})), issOpts),
            check("not a token"),
            check("a.b.c"),
            check(hs256(h, "[1,2]")),
            check(hs256("[]", "{}")),
            check(hs256(h, "{not json}")),
            check(hs256('{"typ":"JWT"}', "{}")),
            check(hs256('{"alg":"HS256","crit":["exp"]}', "{}")),
        }, "\n")
    )") == "ok {\"exp\":N,\"sub\":\"a\"}\nexpired\nnot yet valid\nnot yet valid\nbad signature\nalgorithm "
           "not allowed\n"
           "audience\nok {\"aud\":[\"other\",\"partyline\"]}\naudience\nissuer\n"
           "ok "
           "{\"iss\":\"https://auth.example.com\"}\nmalformed\nmalformed\nmalformed\nmalformed\nmalformed\n"
           "malformed\nmalformed");
}

TEST_CASE("leeway: 30 s by default, leeway_seconds otherwise") {
    auto state = jwtState();
    CHECK(value(*state, R"(
        local h = '{"alg":"HS256"}'
        local late = hs256(h, json.encode({exp = NOW - 10}))
        local early = hs256(h, json.encode({nbf = NOW + 10}))
        local strict = {secret = "k", algorithms = {"HS256"}, leeway_seconds = 0}
        return table.concat({check(late) ~= "expired" and "ok" or "expired", check(late, strict),
                             check(early) ~= "not yet valid" and "ok" or "early", check(early, strict)}, " ")
    )") == "ok expired ok not yet valid");
}

TEST_CASE("alg none is never accepted, even when listed or unsigned") {
    auto state = jwtState();
    CHECK(value(*state, R"(
        local unsigned = part('{"alg":"none","typ":"JWT"}') .. "." .. part('{"sub":"admin"}') .. "."
        return check(unsigned) .. "," .. check(unsigned, {secret = "k", algorithms = {"HS256", "RS256"}}) .. "," ..
               check(hs256('{"alg":"none"}', "{}"))
    )") == "algorithm not allowed,algorithm not allowed,algorithm not allowed");
    CHECK(error(*state, R"(return jwt.verify("x", {secret = "k", algorithms = {"none"}}))") ==
          "test.lua:1: jwt.verify: opts.algorithms: \"none\" is never accepted");
    CHECK(error(*state, R"(return jwt.sign({}, {secret = "k", alg = "none"}))") ==
          "test.lua:1: jwt.sign: opts.alg: \"none\" is never accepted");
}

TEST_CASE("algorithm confusion: HS256 signed with the RSA public key's PEM as secret is refused") {
    auto state = jwtState();
    CHECK(value(*state, R"(
        local forged = hs256('{"alg":"HS256","typ":"JWT"}', '{"sub":"admin"}', RSA_PUBLIC)
        local es = jwt.sign({sub = "a"}, {private_key = EC_PRIVATE})
        return table.concat({
            check(forged, {public_key = RSA_PUBLIC, algorithms = {"RS256"}}),
            check(forged, {public_key = RSA_PUBLIC, algorithms = {"RS256", "HS256"}}),
            check(es, {public_key = RSA_PUBLIC, algorithms = {"RS256", "ES256"}}),
            check(es, {secret = EC_PUBLIC, algorithms = {"HS256", "ES256"}}),
            check(es, {public_key = EC_PUBLIC, algorithms = {"ES256"}}),
        }, ",")
    )") == "algorithm not allowed,algorithm not allowed,algorithm not allowed,algorithm not allowed,ok "
           "{\"sub\":\"a\"}");
}

TEST_CASE("hostile tokens: a 2 KiB kid, exp as a string, claims nested 1,000 deep, over 8 KiB") {
    auto state = jwtState();
    CHECK(value(*state, R"(
        local h = '{"alg":"HS256"}'
        local deep = '{"a":' .. ("["):rep(1000) .. ("]"):rep(1000) .. '}'
        local oversize = hs256(h, json.encode({pad = ("x"):rep(7000)}))
        return table.concat({
            check(hs256(json.encode({alg = "HS256", kid = ("k"):rep(2048)}), '{"sub":"a"}')),
            check(hs256(h, '{"exp":"' .. (NOW + 60) .. '"}')),
            check(hs256(h, '{"exp":null}')),
            check(hs256(h, '{"nbf":true}')),
            check(hs256(h, '{"aud":7}')),
            check(hs256(h, '{"aud":["a",7]}')),
            check(hs256(h, '{"aud":{"x":"a"}}')),
            check(hs256(h, '{"iss":["a"]}')),
            check(hs256(h, deep)),
            check(hs256('{"alg":"HS256","x":' .. ("["):rep(1000) .. ("]"):rep(1000) .. '}', "{}")),
            #oversize > 8192 and check(oversize) or "short",
            check(("a"):rep(100000)),
        }, "\n")
    )") == "ok {\"sub\":\"a\"}\nmalformed\nmalformed\nmalformed\nmalformed\nmalformed\nmalformed\nmalformed\n"
           "malformed\nmalformed\ntoo large\ntoo large");
}

TEST_CASE("mistakes in the options raise, naming the option") {
    auto state = jwtState();
    const std::pair<const char*, const char*> cases[] = {
        {R"(jwt.verify("t", {secret = "k"}))",
         "jwt.verify: opts.algorithms must be a list of the algorithms to accept"},
        {R"(jwt.verify("t", {secret = "k", algorithms = {}}))",
         "jwt.verify: opts.algorithms must list 1 to 6 algorithms"},
        {R"(jwt.verify("t", {secret = "k", algorithms = {"HS257"}}))",
         "jwt.verify: opts.algorithms: unknown algorithm \"HS257\" (HS256, HS384, HS512, RS256, ES256 or "
         "EdDSA)"},
        {R"(jwt.verify("t", {algorithms = {"HS256"}}))",
         "jwt.verify: opts needs secret or public_key (one of them)"},
        {R"(jwt.verify("t", {secret = "k", public_key = RSA_PUBLIC, algorithms = {"HS256"}}))",
         "jwt.verify: opts needs secret or public_key (one of them)"},
        {R"(jwt.verify("t", {secret = "", algorithms = {"HS256"}}))",
         "jwt.verify: opts.secret: the secret is empty"},
        {R"(jwt.verify("t", {public_key = "nope", algorithms = {"RS256"}}))",
         "jwt.verify: opts.public_key: not a PEM public key"},
        {R"(jwt.verify("t", {secret = "k", algorithms = {"HS256"}, leeway_seconds = -1}))",
         "jwt.verify: opts.leeway_seconds must be a whole number of seconds, 0 to 86400"},
        {R"(jwt.verify("t", {secret = "k", algorithms = {"HS256"}, audience = 5}))",
         "jwt.verify: opts.audience must be a string"},
        {R"(jwt.verify({}, OPTS))", "bad argument #1 to 'verify' (string expected, got table)"},
        {R"(jwt.sign({f = print}, {secret = "k"}))",
         "jwt.sign: claims: json.encode: cannot encode a function value"},
        {R"(jwt.sign({1, 2}, {secret = "k"}))", "jwt.sign: claims must be a table with string keys"},
        {R"(jwt.sign({}, {private_key = RSA_PUBLIC}))",
         "jwt.sign: opts.private_key: not a PEM private key (unencrypted)"},
        {R"(jwt.sign({}, {secret = "k", alg = "RS256"}))",
         "jwt.sign: the key cannot sign RS256 (a secret signs HS256, HS384 or HS512)"},
        {R"(jwt.sign({}, {private_key = EC_PRIVATE, alg = "RS256"}))",
         "jwt.sign: the key cannot sign RS256 (it must be the private key of that algorithm)"},
        {R"(jwt.sign({pad = ("x"):rep(7000)}, {secret = "k"}))",
         "jwt.sign: the token would be over 8192 bytes"},
    };
    for (const auto& c : cases) {
        const char* call = c.first;
        CAPTURE(call);
        CHECK(error(*state, std::string("return ") + call) == std::string("test.lua:1: ") + c.second);
    }
}

TEST_CASE("jwt.verify is charged per byte and per public-key operation") {
    auto state = jwtState(testing::kSmallBudget);  // 100,000 instructions
    REQUIRE(load(*state, R"(
        TOKEN = hs256('{"alg":"HS256"}', '{"sub":"a"}')
        function manyHmac() for i = 1, 20 do assert(jwt.verify(TOKEN, OPTS)) end return "done" end
        function manyRsa()
            for i = 1, 20 do jwt.verify(TOKEN, {public_key = RSA_PUBLIC, algorithms = {"RS256"}}) end
        end
    )")
                .finished());
    CHECK(testing::call(*state, "manyHmac").value == "done");
    testing::checkFailures(*state, {{"manyRsa", Code::ResourceExhausted,
                                     "test.lua:5: instruction budget of 100000 exceeded in jwt.verify"}});
}

TEST_CASE("a Lua error inside jwt.verify leaves the state usable: the budget stop propagates, pcall or not") {
    auto state = jwtState(testing::kSmallBudget);
    REQUIRE(load(*state, R"(
        function caught()
            local ok = pcall(function()
                for i = 1, 20 do jwt.verify(hs256('{"alg":"HS256"}', "{}"), {public_key = RSA_PUBLIC, algorithms = {"RS256"}}) end
            end)
            return "swallowed"
        end
        function fine() return check(hs256('{"alg":"HS256"}', '{"n":1}')) end
    )")
                .finished());
    CHECK(testing::call(*state, "caught").failed());
    CHECK(testing::call(*state, "fine").value == "ok {\"n\":1}");
}

}  // namespace
}  // namespace partyline::lua
