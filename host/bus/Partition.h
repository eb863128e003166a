// Partition: which of a deployment's log streams (and buckets) holds a room.
//
// nats.partitions (N) spreads rooms over N streams so that their writes are not all on one
// JetStream stream leader. A room's partition is FNV-1a 64 over the bytes of its party, one zero
// byte and its room id, modulo N: the same on every node and in every version, since a room whose
// partition changed would be cut off from its history. Unit tests pin known values.
//
// N = 1 keeps the names of a deployment that never had partitions (stream PARTYLINE, buckets
// PARTYLINE_STORAGE and PARTYLINE_ALARMS); N > 1 names partition i `<name>-<i>`.
//
// Pure functions: any thread. Nothing here talks to NATS.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace partyline {

// FNV-1a, 64 bits (offset basis 0xcbf29ce484222325, prime 0x100000001b3).
uint64_t fnv1a64(std::string_view bytes);

// The partition of a room among `count` (at least 1): fnv1a64(party + '\0' + room) % count.
int partitionOf(std::string_view party, std::string_view roomId, int count);

// The stream or bucket `name` of partition `index` among `count`: `name` itself when count is
// 1, else `<name>-<index>`.
std::string partitionName(std::string_view name, int index, int count);

// What partitionName gave: the index when `candidate` is `<name>-<digits>` (no leading zero),
// nullopt otherwise (`name` itself included).
std::optional<int> partitionIndexOf(std::string_view name, std::string_view candidate);

}  // namespace partyline
