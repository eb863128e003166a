// The JWT token parser as room scripts reach it: jwt.verify on arbitrary bytes as a token, and on a
// correctly signed HS256 token whose claims are the arbitrary bytes (so the claims decoding is
// reached past the signature), in a sandboxed State under its memory cap and instruction budget.
// Checks: no crash or UB; jwt.verify never raises on a token, and answers a claims table or nil and
// one of its documented reasons; a token that parses is exactly the base64url of its parts (one
// text per token), never over 8 KiB.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <lua.hpp>
#include <memory>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "core/Base64.h"
#include "core/Jwt.h"
#include "lua/State.h"

using namespace partyline;
using lua::State;

namespace {

// The configuration's defaults: what a room's script gets.
constexpr lua::Budget kBudget{16 << 20, 10000000};

constexpr const char* kScript = R"(
    local opts = {secret = "fuzz", algorithms = {"HS256", "HS384", "HS512"}, audience = "a", issuer = "i"}
    function check(token)
        local claims, reason = jwt.verify(token, opts)
        if claims ~= nil then
            assert(type(claims) == "table" and reason == nil)
            return "ok"
        end
        return reason
    end
)";

constexpr const char* kReasons[] = {"ok",
                                    "malformed",
                                    "too large",
                                    "algorithm not allowed",
                                    "bad signature",
                                    "expired",
                                    "not yet valid",
                                    "audience",
                                    "issuer"};

bool isReason(std::string_view answer) {
    for (const char* reason : kReasons)
        if (answer == reason) return true;
    return false;
}

// check(token) as one handler call: its answer.
std::string check(State& state, std::string_view token) {
    lua_State* L = state.L();
    state.beginCall();
    lua_State* co = lua_newthread(L);
    lua_getglobal(co, "check");
    lua_pushlstring(co, token.data(), token.size());
    State::RunResult result = state.resume(co, 1);
    FUZZ_CHECK(result.run == State::Run::Finished && result.nresults == 1, "jwt.verify raised on a token");
    FUZZ_CHECK(lua_type(co, -1) == LUA_TSTRING, "check did not answer a string");
    std::string answer(lua_tostring(co, -1), lua_rawlen(co, -1));
    lua_pop(L, 1);  // the coroutine
    FUZZ_CHECK(isReason(answer), "jwt.verify answered an undocumented reason");
    return answer;
}

void checkParse(std::string_view text) {
    jwt::Token token;
    if (jwt::parse(text, token) != jwt::Reason::Ok) return;
    FUZZ_CHECK(text.size() <= jwt::kMaxTokenBytes, "a token over the limit parsed");
    std::string again = base64Encode(token.header, Base64Alphabet::Url) + "." +
                        base64Encode(token.payload, Base64Alphabet::Url) + "." +
                        base64Encode(token.signature, Base64Alphabet::Url);
    FUZZ_CHECK(again == text, "a parsed token is not the encoding of its parts");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    checkParse(text);

    auto created = State::create(kBudget);
    FUZZ_CHECK(created.isOk(), "cannot create a Lua state");
    std::unique_ptr<State> state = std::move(created).value();
    state->setLogSink({});
    FUZZ_CHECK(state->loadScript(kScript, "fuzz.lua").isOk(), "the fuzz script does not load");
    lua_pop(state->L(), 1);

    check(*state, text);
    static const jwt::Key key = std::move(jwt::Key::secret("fuzz")).value();
    Result<std::string> signedToken = jwt::sign(text, jwt::Algorithm::HS256, key);
    if (signedToken) {
        std::string answer = check(*state, *signedToken);
        FUZZ_CHECK(answer != "bad signature" && answer != "algorithm not allowed" && answer != "too large",
                   "a token signed here was refused for its signature");
    }
    return 0;
}
