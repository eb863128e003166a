// Room scripts' crypto and base64 libraries, from OpenSSL's libcrypto (core/Crypto.h) and
// core/Base64.h:
//
//   crypto.sha256(data), crypto.hmac_sha256(key, data)        lowercase hex
//   crypto.sha256_raw(data), crypto.hmac_sha256_raw(key, data) raw bytes
//   crypto.random(n)                                          n bytes (1..1024) from the OS CSPRNG
//   crypto.equal(a, b)                                        constant-time comparison
//   base64.encode(s), base64.decode(s)                        RFC 4648, padded
//   base64.urlencode(s), base64.urldecode(s)                  URL alphabet, no padding
//
// A decode of text that is not base64 returns nil and why; wrong argument types raise. Every function
// charges the bytes it reads to the call's instruction budget (SandboxHost::chargeWork), since the
// work runs in C where the count hook never fires. Results are built in Lua memory, under the cap.
#pragma once

#include "lua/Sandbox.h"

struct lua_State;

namespace partyline::lua {

// The most bytes crypto.random gives in one call: keys and nonces are 16 to 64 bytes.
inline constexpr int kMaxRandomBytes = 1024;

// Push the `crypto` and the `base64` table. `host` must outlive the state.
int openCrypto(lua_State* L, SandboxHost& host);
int openBase64(lua_State* L, SandboxHost& host);

}  // namespace partyline::lua
