// FrameReader on arbitrary client bytes. Input: two bytes of message limit, one byte that seeds
// how the rest is cut into reads, then the bytes as they came off the socket.
// Checks: no crash or UB; the same events whether the bytes arrive at once or in pieces;
// messages within the limit, text messages valid UTF-8, nothing after a Close or a protocol
// error; memory held follows the bytes received, never a declared length.
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "net/WebSocketProtocol.h"

using partyline::net::FrameReader;
using Kind = FrameReader::Event::Kind;

namespace {

bool sameEvents(const std::vector<FrameReader::Event>& a, const std::vector<FrameReader::Event>& b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i) {
        if (a[i].kind != b[i].kind || a[i].binary != b[i].binary || a[i].payload != b[i].payload ||
            a[i].code != b[i].code || a[i].reason != b[i].reason)
            return false;
    }
    return true;
}

void checkEvents(const std::vector<FrameReader::Event>& events, size_t maxMessageBytes) {
    for (size_t i = 0; i < events.size(); ++i) {
        const auto& e = events[i];
        bool last = i + 1 == events.size();
        switch (e.kind) {
            case Kind::Message:
                FUZZ_CHECK(e.payload.size() <= maxMessageBytes, "message over the limit");
                FUZZ_CHECK(e.binary || partyline::net::isValidUtf8(e.payload), "text message not UTF-8");
                break;
            case Kind::Ping:
            case Kind::Pong:
                FUZZ_CHECK(e.payload.size() <= 125, "control payload over 125 bytes");
                break;
            case Kind::Close:
                FUZZ_CHECK(last, "event after a Close");
                FUZZ_CHECK(e.code == partyline::net::close_code::NoStatus ||
                               partyline::net::isValidCloseCode(e.code),
                           "invalid close code reported");
                FUZZ_CHECK(partyline::net::isValidUtf8(e.reason), "close reason not UTF-8");
                break;
            case Kind::ProtocolError:
                FUZZ_CHECK(last, "event after a protocol error");
                FUZZ_CHECK(partyline::net::isValidCloseCode(e.code),
                           "protocol error with an unsendable code");
                FUZZ_CHECK(!e.reason.empty(), "protocol error without a reason");
                break;
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 3) return 0;
    size_t maxMessageBytes = size_t(data[0]) << 8 | data[1];
    uint32_t seed = data[2];
    std::string_view wire(reinterpret_cast<const char*>(data + 3), size - 3);

    FrameReader whole(maxMessageBytes);
    std::vector<FrameReader::Event> wholeEvents;
    whole.feed(wire, wholeEvents);
    checkEvents(wholeEvents, maxMessageBytes);

    // The same bytes in reads of 1 to 16 bytes, sizes from a small linear congruential sequence.
    FrameReader pieces(maxMessageBytes);
    std::vector<FrameReader::Event> pieceEvents;
    size_t pos = 0;
    while (pos < wire.size()) {
        seed = seed * 1103515245u + 12345u;
        size_t take = std::min<size_t>(1 + (seed >> 16) % 16, wire.size() - pos);
        pieces.feed(wire.substr(pos, take), pieceEvents);
        pos += take;
        // Buffers hold at most what arrived (plus the allocator's rounding), whatever was declared.
        FUZZ_CHECK(pieces.heldBytes() <= 2 * pos + 64, "reader holds more than it received");
    }
    FUZZ_CHECK(sameEvents(wholeEvents, pieceEvents), "events depend on how the bytes were cut into reads");
    return 0;
}
