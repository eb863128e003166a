// The frames a room sends its connections, in the raw and the partyline.v1 shapes.
#include <doctest/doctest.h>

#include "rooms/ClientFrames.h"
#include "rooms/RoomsTestSupport.h"

using namespace partyline;
using namespace partyline::testing;

namespace {

// The payload of one encoded frame, and whether it is binary (as a client's socket reads it).
std::pair<std::string, bool> payloadOf(const FramePtr& frame) {
    FakeClient reader("reader");
    reader.send(frame);
    auto got = reader.waitFor(1);
    REQUIRE(got.size() == 1);
    return {got[0].data, got[0].binary};
}

LogEntry entry(uint64_t seq, std::string data, bool binary = false) {
    LogEntry e;
    e.seq = seq;
    e.data = std::move(data);
    e.binary = binary;
    return e;
}

}  // namespace

TEST_CASE("a log write: raw as written, versioned with its sequence, binary as base64") {
    CHECK(payloadOf(rawWriteFrame(entry(7, "hi"))) == std::pair<std::string, bool>{"hi", false});
    CHECK(payloadOf(rawWriteFrame(entry(7, "\x01\x02", true))) ==
          std::pair<std::string, bool>{"\x01\x02", true});
    CHECK(payloadOf(versionedWriteFrame(entry(7, "say \"hi\""))).first == R"({"seq":7,"data":"say \"hi\""})");
    CHECK(payloadOf(versionedWriteFrame(entry(8, "\x01\x02", true))).first ==
          R"({"seq":8,"binary":true,"data":"AQI="})");
}

TEST_CASE("a conn:send: raw as sent, versioned wrapped without a sequence") {
    FakeClient raw("r"), versioned("v", true);
    CHECK(payloadOf(directFrameFor(raw, "hello", false)) == std::pair<std::string, bool>{"hello", false});
    CHECK(payloadOf(directFrameFor(raw, "\xff", true)) == std::pair<std::string, bool>{"\xff", true});
    CHECK(payloadOf(directFrameFor(versioned, "{\"a\":1}", false)).first == R"({"data":"{\"a\":1}"})");
    CHECK(payloadOf(directFrameFor(versioned, "\xff", true)) ==
          std::pair<std::string, bool>{R"({"binary":true,"data":"/w=="})", false});
}

TEST_CASE("the truncation marker, with the new epoch when the log began again") {
    CHECK(payloadOf(truncatedFrame(3, 9)).first == R"({"truncated":true,"since":3,"first":9})");
    CHECK(payloadOf(truncatedFrame(3, 0, "1796")).first ==
          R"({"truncated":true,"since":3,"first":0,"epoch":"1796"})");
}
