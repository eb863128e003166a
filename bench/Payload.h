// Payload: what one benchmark write carries, and how a delivered frame is read back.
//
// A write's text is "plb1.<run>.<room>.<writer>.<counter>.<sent-ns>." padded with '-' to the
// requested size: only characters that JSON never escapes, so the text arrives unchanged inside a
// partyline.v1 envelope ({"seq":N,"data":"..."}) or inside any JSON a PartyKit-style room wraps it
// in. The run id keeps writes of other runs (and other traffic in the room) apart.
// Must not: allocate on the read path, or trust a frame's fields (a malformed one is "foreign").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace partyline::bench {

struct WriteStamp {
    uint32_t room = 0;
    uint32_t writer = 0;
    uint64_t counter = 0;    // 1, 2, ... per (room, writer)
    uint64_t sentNanos = 0;  // CLOCK_MONOTONIC when the write left the tool
};

// The stamp, padded to `size` bytes (a smaller size leaves the stamp alone, about 40 bytes).
std::string encodePayload(std::string_view runId, const WriteStamp& stamp, size_t size);

struct Delivery {
    // Welcome: the frame a partyline.v1 connection gets first (its id and resume secret), not a write.
    enum class Kind { Ours, Welcome, Foreign } kind = Kind::Foreign;
    uint64_t seq = 0;  // the log sequence from the envelope; 0 when the frame had none
    WriteStamp stamp;
};

// Reads one delivered text frame. With `enveloped`, a leading {"seq":N is taken as the sequence.
Delivery parseDelivery(std::string_view frame, bool enveloped, std::string_view runId);

}  // namespace partyline::bench
