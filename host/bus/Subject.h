// Room ids to NATS subject tokens, and back.
//
// A room id is any non-empty UTF-8 string up to 256 bytes; a subject token may
// not hold '.', '*', '>' or whitespace. Letters, digits, '-' and '_' pass
// through; every other byte becomes '=' followed by two upper-case hex digits,
// so the encoding is reversible and distinct ids never share a subject.
#pragma once

#include <string>
#include <string_view>

#include "core/Status.h"

namespace partyline {

constexpr size_t kMaxRoomIdBytes = 256;

// `what` names the input in errors ("room id", "storage key").
Result<std::string> encodeSubjectToken(std::string_view id, std::string_view what = "room id");
Result<std::string> decodeSubjectToken(std::string_view token);

// The log subject of a room, and the live subject JetStream republishes it to.
std::string logSubject(std::string_view prefix, std::string_view partyToken, std::string_view roomToken);
std::string liveSubject(std::string_view prefix, std::string_view partyToken, std::string_view roomToken);

}  // namespace partyline
