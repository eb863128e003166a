// Base64 (RFC 4648, with padding): binary writes inside JSON frames and the
// WebSocket accept key.
#pragma once

#include <string>
#include <string_view>

namespace partyline {

std::string base64Encode(std::string_view bytes);

}  // namespace partyline
