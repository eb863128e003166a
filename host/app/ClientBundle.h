// ClientBundle: the client library as one ES module (clients/js with partysocket, bundled by
// scripts/bundle-client.sh and compiled into the binary), served at kClientBundlePath so a page
// can `import { PartylineSocket } from "/_partyline/partyline-client.js"` with no bundler and no
// copy of its own. Public, like the pages: it is the same file for everyone and holds no secret.
//
// Answers GET with an ETag (the bundle's SHA-256), `Cache-Control: no-cache` (a
// browser asks again each load, and gets 304 while the node runs the same bundle), and
// `Access-Control-Allow-Origin: *` (a page served elsewhere may load it as a module).
#pragma once

#include <string_view>

#include "rooms/Http.h"

namespace partyline {

inline constexpr std::string_view kClientBundlePath = "/_partyline/partyline-client.js";

// The answer to a request for the bundle: `method` GET (else 405), `ifNoneMatch` the
// request's If-None-Match header (nullptr: none).
HttpResponse clientBundleResponse(std::string_view method, const std::string* ifNoneMatch);

// The bundle itself.
std::string_view clientBundle();

}  // namespace partyline
