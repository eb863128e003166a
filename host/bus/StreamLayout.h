// StreamLayout: the log streams a deployment has, against the partitions it is configured for.
//
// nats.partitions decides which stream holds a room (bus/Partition.h). Started with another
// count than the one its data was written with, a node would look for each room's history in
// the wrong stream; so before it creates or updates a stream it lists the ones JetStream holds
// and refuses to start when one of them belongs to another count, saying what it found, what it
// was told and what to do.
//
// A stream of partition i of N says so in its description (streamDescription); the stream of a
// single partition is the one named nats.stream.
//
// Threads: the caller's; checkStreamLayout blocks on JetStream API requests. It must not create,
// change or delete a stream.
#pragma once

#include <nats/nats.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/Config.h"
#include "core/Status.h"

namespace partyline {

// "partyline log: partition <index> of <count>"; empty for a single partition, whose stream
// keeps the configuration it had before partitions existed.
std::string streamDescription(int index, int count);
// The count a description written by streamDescription names, nullopt for any other text.
std::optional<int> partitionCountOf(const std::string& description);

// One log stream as JetStream holds it.
struct FoundStream {
    std::string name;
    std::string description;
    uint64_t messages = 0;
};

// Ok when every stream in `found` named nats.stream or nats.stream-<i> belongs to
// cfg.partitions; InvalidArgument with the whole story otherwise. Streams of other names are
// not the log's and are ignored.
Status judgeStreamLayout(const NatsConfig& cfg, const std::vector<FoundStream>& found);

// Lists the streams of `js` and judges them. Unavailable or Timeout when JetStream does not
// answer (the caller retries).
Status checkStreamLayout(jsCtx* js, const NatsConfig& cfg);

}  // namespace partyline
