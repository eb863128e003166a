// What partyline reads back from NATS (bus/NatsCodec): the input is used as a PubAck answer, a
// time stamp, a Pl-Exclude value, and, split at '\n', as the headers and data of a stored message.
// Checks: no crash or UB; a Stored answer has a positive sequence and any other a reason; an
// error PubAck is never Stored; decoded exclude ids encode to a header-safe value that decodes
// back to them; a message with a decimal Nats-Sequence always makes an entry with that sequence
// and its data, and one without never does.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "bus/NatsCodec.h"

using namespace partyline;

namespace {

void checkAck(std::string_view input) {
    for (std::optional<std::string_view> status : {std::optional<std::string_view>(), std::optional(input)}) {
        AckReading r = readAck(input, status);
        if (r.outcome == AckOutcome::Stored) {
            FUZZ_CHECK(r.seq > 0, "a stored publish without a sequence");
            FUZZ_CHECK(r.status.isOk(), "a stored publish with an error");
        } else {
            FUZZ_CHECK(!r.status.isOk(), "a publish not stored without a reason");
        }
    }
    auto ack = parsePubAck(input);
    if (ack && ack->error)
        FUZZ_CHECK(readAck(input, std::nullopt).outcome != AckOutcome::Stored, "error stored");
    if (ack && !ack->error) FUZZ_CHECK(ack->seq > 0, "a PubAck without a positive sequence");
}

void checkExclude(std::string_view input) {
    std::vector<std::string> ids = decodeExclude(input);
    std::string encoded = encodeExclude(ids);
    for (unsigned char c : encoded) FUZZ_CHECK(c > 0x20 && c != 0x7F, "Pl-Exclude value not header-safe");
    FUZZ_CHECK(decodeExclude(encoded) == ids, "decode(encode(ids)) differs from ids");
}

// Fills `fields` with the first lines of `input` (as many as there are); returns what follows them.
template <size_t N>
std::string_view takeLines(std::string_view input, std::optional<std::string_view> (&fields)[N]) {
    for (auto& field : fields) {
        size_t newline = input.find('\n');
        if (newline == std::string_view::npos) break;
        field = input.substr(0, newline);
        input.remove_prefix(newline + 1);
    }
    return input;
}

// The first seven lines are the headers of EntryHeaders in order (absent when there are fewer),
// the rest is the data.
void checkEntry(std::string_view input) {
    std::optional<std::string_view> h[7];
    std::string_view rest = takeLines(input, h);
    EntryHeaders headers{h[0], h[1], h[2], h[3], h[4], h[5], h[6]};
    auto entry = decodeEntry(headers, rest);
    auto seq = h[0] ? parseUint(*h[0]) : std::nullopt;
    FUZZ_CHECK(entry.isOk() == seq.has_value(),
               "an entry made without a readable sequence, or refused with one");
    if (!entry.isOk()) return;
    FUZZ_CHECK(entry->seq == *seq, "the entry's sequence is not the header's");
    FUZZ_CHECK(entry->data == rest, "the entry's data is not the message's");
}

// The first three lines are the headers of KvHeaders in order (absent when there are fewer), the
// rest is the data; the bucket is "$KV.B.".
void checkKvChange(std::string_view input) {
    std::optional<std::string_view> h[3];
    std::string_view rest = takeLines(input, h);
    auto at = decodeKvChange("$KV.B.", KvHeaders{h[0], h[1], h[2]}, rest);
    if (!at.isOk()) return;
    FUZZ_CHECK(at->seq > 0 && at->change.entry.revision == at->seq, "a change without its sequence");
    FUZZ_CHECK(!at->change.entry.key.empty() && "$KV.B." + at->change.entry.key == *h[1],
               "the key is not the subject after the bucket's prefix");
    FUZZ_CHECK((at->change.kind == KvChange::Kind::Delete) == h[2].has_value(),
               "a delete marker taken for a value, or a value for a delete");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    checkAck(input);
    checkKvChange(input);
    parseTimeStamp(input);
    checkExclude(input);
    checkEntry(input);
    return 0;
}
