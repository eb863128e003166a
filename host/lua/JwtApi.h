// Room scripts' jwt library, on core/Jwt.h with claims decoded by lua/Json (bounded depth and size):
//
//   jwt.verify(token, opts) -> claims | nil, reason
//     opts.secret (HS256/384/512) or opts.public_key (PEM: RS256, ES256, EdDSA), exactly one;
//     opts.algorithms (required, a list; "none" is never accepted), opts.audience, opts.issuer,
//     opts.leeway_seconds (default 30). exp, nbf and iat are checked against the node's clock.
//     reason: "malformed", "too large", "algorithm not allowed", "bad signature", "expired",
//     "not yet valid", "audience", "issuer".
//   jwt.sign(claims, opts) -> token
//     opts.secret with opts.alg HS256 (the default), HS384 or HS512, or opts.private_key (PEM) with
//     the key's algorithm (RS256, ES256, EdDSA).
//
// A token that cannot be accepted returns nil and a reason; a mistake of the script (bad options, a
// PEM that is no key, claims JSON cannot hold) raises. The work is charged to the call's
// instruction budget: the token's bytes and a fixed cost per public-key operation.
#pragma once

#include "lua/Sandbox.h"

struct lua_State;

namespace partyline::lua {

// Pushes the `jwt` table. `host` must outlive the state.
int openJwt(lua_State* L, SandboxHost& host);

}  // namespace partyline::lua
