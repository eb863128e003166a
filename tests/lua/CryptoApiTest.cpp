// crypto and base64 as room scripts call them: known vectors (FIPS 180-2, RFC 4231, RFC 4648),
// results as strings in Lua's memory, bad input answered with nil and a reason or an argument
// error, and the work charged to the call's instruction budget.
#include "LuaTesting.h"

namespace partyline::lua {
namespace {

using testing::load;
using testing::newState;
using testing::run;

std::string value(std::string_view script) {
    auto outcome = run(script);
    REQUIRE_MESSAGE(outcome.finished(), outcome.error.toString());
    return outcome.value;
}

TEST_CASE("crypto.sha256: lowercase hex, and raw bytes from sha256_raw") {
    CHECK(value(R"(return crypto.sha256(""))") ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK(value(R"(return crypto.sha256("abc"))") ==
          "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    CHECK(value(R"(return crypto.sha256("a\0b") ~= crypto.sha256("a"))") == "true");
    CHECK(value(R"(
        local raw = crypto.sha256_raw("abc")
        return #raw .. " " .. (raw:gsub(".", function(c) return string.format("%02x", c:byte()) end))
    )") == "32 ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST_CASE("crypto.hmac_sha256: RFC 4231 test cases 1, 2, 3, 6 and 7, and the empty key") {
    CHECK(value(R"(return crypto.hmac_sha256(("\x0b"):rep(20), "Hi There"))") ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    CHECK(value(R"(return crypto.hmac_sha256("Jefe", "what do ya want for nothing?"))") ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(value(R"(return crypto.hmac_sha256(("\xaa"):rep(20), ("\xdd"):rep(50)))") ==
          "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    CHECK(value(R"(return crypto.hmac_sha256(("\xaa"):rep(131),
                   "Test Using Larger Than Block-Size Key - Hash Key First"))") ==
          "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    CHECK(value(
              R"(return crypto.hmac_sha256(("\xaa"):rep(131), "This is a test using a larger than block-size "
                   .. "key and a larger than block-size data. The key needs to be hashed before being used by "
                   .. "the HMAC algorithm."))") ==
          "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
    CHECK(value(R"(return crypto.hmac_sha256("", ""))") ==
          "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
    CHECK(value(R"(
        local raw = crypto.hmac_sha256_raw("Jefe", "what do ya want for nothing?")
        return #raw .. " " .. tostring(base64.encode(raw) == "W9zBRr9gdU5qBCQmCJV1x1oAPwidJzmDnexYuWTsOEM=")
    )") == "32 true");
}

TEST_CASE("crypto.random: n bytes, different each time, 1 to 1024") {
    CHECK(value("return #crypto.random(1) .. ' ' .. #crypto.random(1024)") == "1 1024");
    CHECK(value("return crypto.random(32) ~= crypto.random(32)") == "true");
    auto state = newState();
    CHECK(load(*state, "return crypto.random(0)").error.message() ==
          "test.lua:1: bad argument #1 to 'random' (must be 1 to 1024)");
    CHECK(load(*state, "return crypto.random(1025)").error.message() ==
          "test.lua:1: bad argument #1 to 'random' (must be 1 to 1024)");
    CHECK(load(*state, "return pcall(crypto.random, 2000)").value == "false");
    CHECK(load(*state, "return select(2, pcall(crypto.random, 2000))").value ==
          "bad argument #1 to 'crypto.random' (must be 1 to 1024)");
    CHECK(load(*state, "return crypto.random(1.5)").error.message() ==
          "test.lua:1: bad argument #1 to 'random' (number has no integer representation)");
}

TEST_CASE("crypto.equal compares bytes, not prefixes") {
    CHECK(value(R"(return tostring(crypto.equal("abc", "abc")) .. tostring(crypto.equal("abc", "abd")) ..
                   tostring(crypto.equal("abc", "ab")) .. tostring(crypto.equal("", "")) ..
                   tostring(crypto.equal("a\0b", "a\0c")))") == "truefalsefalsetruefalse");
}

TEST_CASE("base64: RFC 4648 vectors, the URL alphabet without padding, round trips of every byte") {
    CHECK(value(R"(
        local out = {}
        for _, s in ipairs({"", "f", "fo", "foo", "foob", "fooba", "foobar"}) do
            out[#out + 1] = base64.encode(s) .. "/" .. base64.urlencode(s)
            assert(base64.decode(base64.encode(s)) == s and base64.urldecode(base64.urlencode(s)) == s)
        end
        return table.concat(out, " ")
    )") == "/ Zg==/Zg Zm8=/Zm8 Zm9v/Zm9v Zm9vYg==/Zm9vYg Zm9vYmE=/Zm9vYmE Zm9vYmFy/Zm9vYmFy");
    CHECK(value(R"(
        local all = {}
        for i = 0, 255 do all[#all + 1] = string.char(i) end
        all = table.concat(all)
        return base64.decode(base64.encode(all)) == all and base64.urldecode(base64.urlencode(all)) == all
            and base64.encode("\xfb\xff") .. base64.urlencode("\xfb\xff")
    )") == "+/8=-_8");
}

TEST_CASE("base64: text that is not base64 decodes to nil and why") {
    CHECK(value(R"(
        local out = {}
        for _, case in ipairs({{"decode", "Zg"}, {"decode", "Z m9"}, {"decode", "Zh=="}, {"urldecode", "Zg=="},
                               {"urldecode", "+/8"}, {"urldecode", "Zm9vY"}}) do
            local decoded, reason = base64[case[1]](case[2])
            out[#out + 1] = tostring(decoded) .. ":" .. reason
        end
        return table.concat(out, ",")
    )") == "nil:bad length,nil:invalid character,nil:nonzero trailing bits,nil:bad padding,nil:invalid "
           "character,"
           "nil:bad length");
    auto state = newState();
    CHECK(load(*state, "return base64.decode({})").error.message() ==
          "test.lua:1: bad argument #1 to 'decode' (string expected, got table)");
}

TEST_CASE("hashing and base64 are charged to the instruction budget by the byte") {
    auto state = newState();  // 100,000 instructions
    REQUIRE(load(*state, R"(
        big = ("x"):rep(200000)
        function hashBig() return crypto.sha256(big) end
        function encodeBig() return base64.encode(big) end
        function hashSmall() return crypto.sha256(("x"):rep(1000)) end
    )")
                .finished());
    testing::checkFailures(*state, {
                                       {"hashBig", Code::ResourceExhausted,
                                        "test.lua:3: instruction budget of 100000 exceeded in crypto.sha256"},
                                       {"encodeBig", Code::ResourceExhausted,
                                        "test.lua:4: instruction budget of 100000 exceeded in base64.encode"},
                                   });
    CHECK(testing::call(*state, "hashSmall").finished());
}

}  // namespace
}  // namespace partyline::lua
