#include "lua/JwtApi.h"

#include <chrono>
#include <cstring>
#include <lua.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "core/Jwt.h"
#include "lua/Json.h"

// A Lua error (the budget, the memory cap, a bad argument) longjmps past C++ destructors. So each
// call runs in two halves: the C function reads and checks its arguments holding no C++ object,
// then runs the body under lua_pcall with a Job, which holds every C++ object of the call and lives
// in runJob's frame. The body keeps only pointers and numbers in its own frame; whatever error
// interrupts it, runJob destroys the Job first and raises the error after.

namespace partyline::lua {
namespace {

// Instruction units a public-key operation is charged, besides one per byte of token and key:
// reading a PEM key and checking an RSA, ECDSA or Ed25519 signature take tens of microseconds.
constexpr uint64_t kPublicKeyUnits = 50000;
// Signing with an RSA private key takes milliseconds (4096 bits); ECDSA and Ed25519 far less.
constexpr uint64_t kRsaSignUnits = 2000000;
// More names than this in opts.algorithms is a mistake: there are six algorithms.
constexpr lua_Integer kMaxAlgorithms = 16;
// A longer leeway would make exp meaningless.
constexpr lua_Integer kMaxLeewaySeconds = 86400;
constexpr lua_Integer kDefaultLeewaySeconds = 30;

constexpr const char* kAlgorithmList = "HS256, HS384, HS512, RS256, ES256 or EdDSA";

SandboxHost& hostOf(lua_State* L) {
    return *static_cast<SandboxHost*>(lua_touserdata(L, lua_upvalueindex(1)));
}

std::string_view stringAt(lua_State* L, int index) {
    size_t size = 0;
    const char* data = lua_tolstring(L, index, &size);
    return {data, size};
}

double nowSeconds() {
    auto sinceEpoch = std::chrono::system_clock::now().time_since_epoch();
    return std::chrono::duration<double>(sinceEpoch).count();
}

// ----- the two halves -----

// Runs body(job, args...) under lua_pcall with a Job made from `args`; the `nargs` values on the top
// of the stack are the body's arguments. The body returns true and its results, or false and a
// message raised from here with the script's position.
template <class Job, class Args>
int runJob(lua_State* L, const Args& args, lua_CFunction body, int nargs) {
    luaL_checkstack(L, 4, "jwt");
    int base = lua_gettop(L) - nargs;
    int rc;
    {
        Job job;
        job.args = &args;
        lua_pushcfunction(L, body);
        lua_pushlightuserdata(L, &job);
        lua_rotate(L, base + 1, 2);
        rc = lua_pcall(L, nargs + 1, LUA_MULTRET, 0);
    }
    if (rc != LUA_OK) return lua_error(L);
    if (!lua_toboolean(L, base + 1)) {
        luaL_where(L, 1);
        lua_insert(L, -2);
        lua_concat(L, 2);
        return lua_error(L);
    }
    lua_remove(L, base + 1);
    return lua_gettop(L) - base;
}

// The body's answer for a mistake of the script: false and "fn: message".
int raise(lua_State* L, const char* fn, const Status& status) {
    lua_pushboolean(L, 0);
    lua_pushfstring(L, "%s: %s", fn, status.message().c_str());
    return 2;
}

// ----- options -----

// Leaves opts[name] on the stack and returns it; "" when absent. Raises unless a string or nil.
std::string_view optionalString(lua_State* L, int opts, const char* name, const char* fn, bool& present) {
    int type = lua_getfield(L, opts, name);
    present = type != LUA_TNIL;
    if (!present) return {};
    if (type != LUA_TSTRING) luaL_error(L, "%s: opts.%s must be a string", fn, name);
    return stringAt(L, -1);
}

// opts.secret or opts.<keyName> (public_key, private_key), exactly one; true for the secret.
bool readKey(lua_State* L, int opts, const char* fn, const char* keyName, std::string_view& secret,
             std::string_view& pem) {
    bool hasSecret = false, hasPem = false;
    secret = optionalString(L, opts, "secret", fn, hasSecret);
    pem = optionalString(L, opts, keyName, fn, hasPem);
    if (hasSecret == hasPem) luaL_error(L, "%s: opts needs secret or %s (one of them)", fn, keyName);
    return hasSecret;
}

// An algorithm name as a script wrote it; raises for "none" and names not supported.
jwt::Algorithm checkAlgorithm(lua_State* L, int index, const char* fn, const char* what) {
    if (lua_type(L, index) != LUA_TSTRING) luaL_error(L, "%s: %s must be an algorithm name", fn, what);
    const char* name = lua_tostring(L, index);
    if (std::strcmp(name, "none") == 0) luaL_error(L, "%s: %s: \"none\" is never accepted", fn, what);
    std::optional<jwt::Algorithm> algorithm = jwt::algorithmNamed(stringAt(L, index));
    if (!algorithm) luaL_error(L, "%s: %s: unknown algorithm \"%s\" (%s)", fn, what, name, kAlgorithmList);
    return *algorithm;
}

jwt::AlgorithmSet readAlgorithms(lua_State* L, int opts, const char* fn) {
    if (lua_getfield(L, opts, "algorithms") != LUA_TTABLE)
        luaL_error(L, "%s: opts.algorithms must be a list of the algorithms to accept", fn);
    int list = lua_gettop(L);
    lua_Integer n = luaL_len(L, list);
    if (n < 1 || n > kMaxAlgorithms) luaL_error(L, "%s: opts.algorithms must list 1 to 6 algorithms", fn);
    jwt::AlgorithmSet allowed;
    for (lua_Integer i = 1; i <= n; ++i) {
        lua_geti(L, list, i);
        allowed.add(checkAlgorithm(L, -1, fn, "opts.algorithms"));
        lua_pop(L, 1);
    }
    return allowed;
}

int64_t readLeeway(lua_State* L, int opts, const char* fn) {
    if (lua_getfield(L, opts, "leeway_seconds") == LUA_TNIL) return kDefaultLeewaySeconds;
    int isInteger = 0;
    lua_Integer seconds = lua_tointegerx(L, -1, &isInteger);
    if (!isInteger || seconds < 0 || seconds > kMaxLeewaySeconds)
        luaL_error(L, "%s: opts.leeway_seconds must be a whole number of seconds, 0 to %d", fn,
                   static_cast<int>(kMaxLeewaySeconds));
    return seconds;
}

// ----- jwt.verify -----

struct VerifyArgs {
    std::string_view token;
    bool usesSecret = false;
    std::string_view secret;     // or
    std::string_view publicKey;  // PEM
    jwt::AlgorithmSet allowed;
    std::optional<std::string_view> audience, issuer;
    int64_t leewaySeconds = kDefaultLeewaySeconds;
};

struct VerifyJob {
    const VerifyArgs* args = nullptr;
    std::optional<jwt::Key> key;
    jwt::Token token;
    jwt::Header header;
    jwt::Claims claims;
    jwt::Expected expected;
    Status status;
};

bool loadKey(VerifyJob& job) {
    const VerifyArgs& args = *job.args;
    Result<jwt::Key> key =
        args.usesSecret ? jwt::Key::secret(args.secret) : jwt::Key::publicKey(args.publicKey);
    if (!key) {
        job.status = key.status().withContext(args.usesSecret ? "opts.secret" : "opts.public_key");
        return false;
    }
    job.key.emplace(std::move(key).value());
    return true;
}

// Decodes the header and reads alg and crit.
jwt::Reason decodeHeader(lua_State* L, VerifyJob& job) {
    job.status = pushJson(L, job.token.header);
    if (!job.status || lua_type(L, -1) != LUA_TTABLE) return jwt::Reason::Malformed;
    if (lua_getfield(L, -1, "alg") == LUA_TSTRING) job.header.alg.emplace(stringAt(L, -1));
    job.header.critical = lua_getfield(L, -2, "crit") != LUA_TNIL;
    lua_pop(L, 3);
    return jwt::Reason::Ok;
}

void readTime(lua_State* L, int claims, const char* name, std::optional<double>& out, bool& malformed) {
    int type = lua_getfield(L, claims, name);
    if (type == LUA_TNUMBER) {
        out = lua_tonumber(L, -1);
    } else if (type != LUA_TNIL) {
        malformed = true;
    }
    lua_pop(L, 1);
}

// aud: a string, or a JSON array of strings.
void readAudience(lua_State* L, int claims, jwt::Claims& out) {
    int type = lua_getfield(L, claims, "aud");
    out.hasAudience = type != LUA_TNIL;
    if (type == LUA_TSTRING) {
        out.audience.emplace_back(stringAt(L, -1));
    } else if (type == LUA_TTABLE) {
        auto n = static_cast<lua_Integer>(lua_rawlen(L, -1));
        lua_Integer entries = 0;
        for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1)) ++entries;
        out.malformed |= entries != n;
        for (lua_Integer i = 1; i <= n && !out.malformed; ++i) {
            if (lua_rawgeti(L, -1, i) == LUA_TSTRING) {
                out.audience.emplace_back(stringAt(L, -1));
            } else {
                out.malformed = true;
            }
            lua_pop(L, 1);
        }
    } else if (type != LUA_TNIL) {
        out.malformed = true;
    }
    lua_pop(L, 1);
}

// Decodes the payload, leaves it on the stack and reads the registered claims.
jwt::Reason decodeClaims(lua_State* L, VerifyJob& job) {
    job.status = pushJson(L, job.token.payload);
    if (!job.status || lua_type(L, -1) != LUA_TTABLE) return jwt::Reason::Malformed;
    int claims = lua_gettop(L);
    jwt::Claims& out = job.claims;
    readTime(L, claims, "exp", out.exp, out.malformed);
    readTime(L, claims, "nbf", out.nbf, out.malformed);
    readTime(L, claims, "iat", out.iat, out.malformed);
    int type = lua_getfield(L, claims, "iss");
    if (type == LUA_TSTRING) {
        out.issuer.emplace(stringAt(L, -1));
    } else if (type != LUA_TNIL) {
        out.malformed = true;
    }
    lua_pop(L, 1);
    readAudience(L, claims, out);
    return jwt::Reason::Ok;
}

jwt::Reason checkClaims(VerifyJob& job) {
    const VerifyArgs& args = *job.args;
    if (args.audience) job.expected.audience.emplace(*args.audience);
    if (args.issuer) job.expected.issuer.emplace(*args.issuer);
    job.expected.leewaySeconds = args.leewaySeconds;
    return jwt::checkClaims(job.claims, job.expected, nowSeconds());
}

// Body of jwt.verify: true and the claims, or true, nil and the reason.
int verifyBody(lua_State* L) {
    auto& job = *static_cast<VerifyJob*>(lua_touserdata(L, 1));
    if (!loadKey(job)) return raise(L, "jwt.verify", job.status);
    jwt::Reason reason = jwt::parse(job.args->token, job.token);
    if (reason == jwt::Reason::Ok) reason = decodeHeader(L, job);
    if (reason == jwt::Reason::Ok)
        reason = jwt::verifySignature(job.token, job.header, *job.key, job.args->allowed);
    if (reason == jwt::Reason::Ok) reason = decodeClaims(L, job);
    if (reason == jwt::Reason::Ok) reason = checkClaims(job);
    lua_pushboolean(L, 1);
    if (reason != jwt::Reason::Ok) {
        lua_pushnil(L);
        lua_pushstring(L, jwt::reasonText(reason));
        return 3;
    }
    lua_pushvalue(L, -2);  // the claims
    return 2;
}

int verify(lua_State* L) {
    VerifyArgs args;
    luaL_checkstring(L, 1);
    args.token = stringAt(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    args.usesSecret = readKey(L, 2, "jwt.verify", "public_key", args.secret, args.publicKey);
    args.allowed = readAlgorithms(L, 2, "jwt.verify");
    bool present = false;
    std::string_view audience = optionalString(L, 2, "audience", "jwt.verify", present);
    if (present) args.audience = audience;
    std::string_view issuer = optionalString(L, 2, "issuer", "jwt.verify", present);
    if (present) args.issuer = issuer;
    args.leewaySeconds = readLeeway(L, 2, "jwt.verify");
    if (args.token.size() > jwt::kMaxTokenBytes) {
        lua_pushnil(L);
        lua_pushstring(L, jwt::reasonText(jwt::Reason::TooLarge));
        return 2;
    }
    uint64_t units = args.token.size() + args.secret.size() + args.publicKey.size();
    hostOf(L).chargeWork(L, units + (args.usesSecret ? 0 : kPublicKeyUnits), "jwt.verify");
    return runJob<VerifyJob>(L, args, verifyBody, 0);
}

// ----- jwt.sign -----

struct SignArgs {
    SandboxHost* host = nullptr;
    bool usesSecret = false;
    std::string_view secret;      // or
    std::string_view privateKey;  // PEM
    std::optional<jwt::Algorithm> algorithm;
};

struct SignJob {
    const SignArgs* args = nullptr;
    std::optional<jwt::Key> key;
    std::string payload;
    std::string token;
    Status status;
};

bool loadKey(SignJob& job) {
    const SignArgs& args = *job.args;
    Result<jwt::Key> key =
        args.usesSecret ? jwt::Key::secret(args.secret) : jwt::Key::privateKey(args.privateKey);
    if (!key) {
        job.status = key.status().withContext(args.usesSecret ? "opts.secret" : "opts.private_key");
        return false;
    }
    job.key.emplace(std::move(key).value());
    return true;
}

// The claims table at `index` as a JSON object; the empty table, which encodes as [], is {}.
bool encodeClaims(lua_State* L, int index, SignJob& job) {
    Result<std::string> json = toJson(L, index);
    if (!json) {
        job.status = json.status().withContext("claims");
        return false;
    }
    job.payload = std::move(json).value();
    if (job.payload == "[]") job.payload = "{}";
    if (job.payload.front() != '{') {
        job.status = Status(Code::InvalidArgument, "claims must be a table with string keys");
        return false;
    }
    return true;
}

bool signToken(SignJob& job, jwt::Algorithm algorithm) {
    Result<std::string> token = jwt::sign(job.payload, algorithm, *job.key);
    if (!token) {
        job.status = token.status();
        return false;
    }
    job.token = std::move(token).value();
    return true;
}

// Body of jwt.sign: true and the token. The claims are argument 2.
int signBody(lua_State* L) {
    auto& job = *static_cast<SignJob*>(lua_touserdata(L, 1));
    if (!loadKey(job) || !encodeClaims(L, 2, job)) return raise(L, "jwt.sign", job.status);
    jwt::Algorithm algorithm =
        job.args->algorithm.value_or(job.key->algorithm().value_or(jwt::Algorithm::HS256));
    uint64_t units = job.payload.size() + job.args->secret.size() + job.args->privateKey.size();
    if (!job.key->isSecret()) units += algorithm == jwt::Algorithm::RS256 ? kRsaSignUnits : kPublicKeyUnits;
    job.args->host->chargeWork(L, units, "jwt.sign");
    if (!signToken(job, algorithm)) return raise(L, "jwt.sign", job.status);
    lua_pushboolean(L, 1);
    lua_pushlstring(L, job.token.data(), job.token.size());
    return 2;
}

int sign(lua_State* L) {
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    SignArgs args;
    args.host = &hostOf(L);
    args.usesSecret = readKey(L, 2, "jwt.sign", "private_key", args.secret, args.privateKey);
    if (lua_getfield(L, 2, "alg") != LUA_TNIL) args.algorithm = checkAlgorithm(L, -1, "jwt.sign", "opts.alg");
    lua_pushvalue(L, 1);
    return runJob<SignJob>(L, args, signBody, 1);
}

}  // namespace

int openJwt(lua_State* L, SandboxHost& host) {
    static constexpr luaL_Reg kFunctions[] = {{"verify", verify}, {"sign", sign}, {nullptr, nullptr}};
    lua_createtable(L, 0, 2);
    lua_pushlightuserdata(L, &host);
    luaL_setfuncs(L, kFunctions, 1);
    return 1;
}

}  // namespace partyline::lua
