// Room ids to NATS subject tokens and back, and the one grammar of every
// subject and key a room has.
//
// A room id is any non-empty UTF-8 string up to 256 bytes; a subject token may
// not hold '.', '*', '>' or whitespace. Letters, digits, '-' and '_' pass
// through; every other byte becomes '=' followed by two upper-case hex digits,
// so the encoding is reversible and distinct ids never share a subject.
//
// Every subject of a room is built here and nowhere else: the rest of the
// host takes them from RoomSubjects. With nats.partitions N > 1 the log and
// live subjects carry the room's partition (bus/Partition.h) as their first
// token after the kind, so that partition i's stream stores exactly
// <prefix>.room.<i>.> and republishes to <prefix>.live.<i>.>; with N = 1 they
// have no partition token, as before partitions existed.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "core/Status.h"

namespace partyline {

constexpr size_t kMaxRoomIdBytes = 256;

// `what` names the input in errors ("room id", "storage key").
Result<std::string> encodeSubjectToken(std::string_view id, std::string_view what = "room id");
Result<std::string> decodeSubjectToken(std::string_view token);

// What one room is called on the bus and in the buckets, built once per room
// (RoomRegistry) from the subject prefix and its party and room tokens.
struct RoomSubjects {
    std::string log;   // <prefix>.room.[<partition>.]<party>.<room>: the room's writes, stored in the stream
    std::string live;  // <prefix>.live.[<partition>.]<party>.<room>: where the stream republishes each write
    std::string presence;   // <prefix>.presence.<party>.<room>: the nodes' connection counts, not stored
    std::string keyPrefix;  // <party>.<room>: the room's keys in room.storage and in the alarm bucket
};

// `partition` of `count` (1: no partition token).
RoomSubjects roomSubjects(std::string_view prefix, std::string_view partyToken, std::string_view roomToken,
                          int partition = 0, int count = 1);

// The subjects of every room of one partition: what its stream stores, and where it republishes.
std::string logSubjects(std::string_view prefix, int partition = 0, int count = 1);   // <prefix>.room.[<i>.]>
std::string liveSubjects(std::string_view prefix, int partition = 0, int count = 1);  // <prefix>.live.[<i>.]>
// Where a key-value bucket republishes its changes for watches: <prefix>.kv.<bucket>, followed
// by the key.
std::string bucketChangesSubject(std::string_view prefix, std::string_view bucket);
// The partition of a log subject among `count`: 0 when count is 1; else its partition token,
// InvalidArgument when it has none or one outside 0..count-1 (isLogSubject holds).
Result<int> partitionOfLogSubject(std::string_view prefix, std::string_view logSubject, int count);

// True when `subject` is <prefix>.room.<something>; whether its tokens are valid is the bus's check.
bool isLogSubject(std::string_view prefix, std::string_view subject);
// The live subject of a log subject under `prefix` (isLogSubject holds).
std::string liveSubjectOf(std::string_view prefix, std::string_view logSubject);

// A key prefix (<party token>.<room token>) back to the party and the room id.
Result<std::pair<std::string, std::string>> roomOfKeyPrefix(std::string_view keyPrefix);

}  // namespace partyline
