#include "lua/CryptoApi.h"

#include <algorithm>
#include <lua.hpp>

#include "core/Base64.h"
#include "core/Crypto.h"

// Every buffer here is a fixed array or a luaL_Buffer: a Lua error (the budget, the memory cap)
// may interrupt any Lua API call, so no C++ object with a destructor is alive across one.

namespace partyline::lua {
namespace {

SandboxHost& hostOf(lua_State* L) {
    return *static_cast<SandboxHost*>(lua_touserdata(L, lua_upvalueindex(1)));
}

// One unit per byte read: hashing and base64 run a few nanoseconds per byte, about what an
// instruction of the script costs.
void charge(lua_State* L, size_t bytes, const char* what) {
    if (bytes > 0) hostOf(L).chargeWork(L, bytes, what);
}

std::string_view checkBytes(lua_State* L, int index) {
    size_t size = 0;
    const char* data = luaL_checklstring(L, index, &size);
    return {data, size};
}

void pushDigest(lua_State* L, const unsigned char* digest, size_t size, bool hex) {
    if (!hex) {
        lua_pushlstring(L, reinterpret_cast<const char*>(digest), size);
        return;
    }
    char text[2 * crypto::kMaxDigestBytes];
    crypto::hexTo(digest, size, text);
    lua_pushlstring(L, text, 2 * size);
}

template <bool Hex>
int sha256(lua_State* L) {
    std::string_view data = checkBytes(L, 1);
    charge(L, data.size(), Hex ? "crypto.sha256" : "crypto.sha256_raw");
    unsigned char digest[crypto::kMaxDigestBytes];
    if (!crypto::hash(crypto::Digest::Sha256, data, digest))
        return luaL_error(L, "crypto.sha256: libcrypto failed");
    pushDigest(L, digest, crypto::digestSize(crypto::Digest::Sha256), Hex);
    return 1;
}

template <bool Hex>
int hmacSha256(lua_State* L) {
    std::string_view key = checkBytes(L, 1);
    std::string_view data = checkBytes(L, 2);
    charge(L, key.size() + data.size(), Hex ? "crypto.hmac_sha256" : "crypto.hmac_sha256_raw");
    unsigned char mac[crypto::kMaxDigestBytes];
    if (!crypto::hmac(crypto::Digest::Sha256, key, data, mac))
        return luaL_error(L, "crypto.hmac_sha256: libcrypto failed");
    pushDigest(L, mac, crypto::digestSize(crypto::Digest::Sha256), Hex);
    return 1;
}

int randomBytes(lua_State* L) {
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= kMaxRandomBytes, 1, "must be 1 to 1024");
    charge(L, static_cast<size_t>(n), "crypto.random");
    unsigned char bytes[kMaxRandomBytes];
    if (!crypto::randomBytes(bytes, static_cast<size_t>(n)))
        return luaL_error(L, "crypto.random: the system's random source failed");
    lua_pushlstring(L, reinterpret_cast<const char*>(bytes), static_cast<size_t>(n));
    return 1;
}

int equal(lua_State* L) {
    std::string_view a = checkBytes(L, 1);
    std::string_view b = checkBytes(L, 2);
    charge(L, std::max(a.size(), b.size()), "crypto.equal");
    lua_pushboolean(L, crypto::equal(a, b));
    return 1;
}

template <Base64Alphabet Alphabet>
int encode(lua_State* L) {
    std::string_view bytes = checkBytes(L, 1);
    charge(L, bytes.size(), Alphabet == Base64Alphabet::Url ? "base64.urlencode" : "base64.encode");
    size_t size = base64EncodedSize(bytes.size(), Alphabet);
    luaL_Buffer b;
    char* out = luaL_buffinitsize(L, &b, size);
    base64EncodeTo(bytes, out, Alphabet);
    luaL_pushresultsize(&b, size);
    return 1;
}

template <Base64Alphabet Alphabet>
int decode(lua_State* L) {
    std::string_view text = checkBytes(L, 1);
    charge(L, text.size(), Alphabet == Base64Alphabet::Url ? "base64.urldecode" : "base64.decode");
    luaL_Buffer b;
    char* out = luaL_buffinitsize(L, &b, base64DecodedMaxSize(text.size()));
    size_t size = 0;
    if (const char* error = base64DecodeTo(text, out, size, Alphabet)) {
        lua_pushnil(L);
        lua_pushstring(L, error);
        return 2;
    }
    luaL_pushresultsize(&b, size);
    return 1;
}

// Pushes a table of `functions`, each a closure over the host.
int openWith(lua_State* L, SandboxHost& host, const luaL_Reg* functions, int count) {
    lua_createtable(L, 0, count);
    lua_pushlightuserdata(L, &host);
    luaL_setfuncs(L, functions, 1);
    return 1;
}

}  // namespace

int openCrypto(lua_State* L, SandboxHost& host) {
    static constexpr luaL_Reg kFunctions[] = {
        {"sha256", sha256<true>},
        {"sha256_raw", sha256<false>},
        {"hmac_sha256", hmacSha256<true>},
        {"hmac_sha256_raw", hmacSha256<false>},
        {"random", randomBytes},
        {"equal", equal},
        {nullptr, nullptr},
    };
    return openWith(L, host, kFunctions, 6);
}

int openBase64(lua_State* L, SandboxHost& host) {
    static constexpr luaL_Reg kFunctions[] = {
        {"encode", encode<Base64Alphabet::Standard>},
        {"decode", decode<Base64Alphabet::Standard>},
        {"urlencode", encode<Base64Alphabet::Url>},
        {"urldecode", decode<Base64Alphabet::Url>},
        {nullptr, nullptr},
    };
    return openWith(L, host, kFunctions, 4);
}

}  // namespace partyline::lua
