// MuxProtocol's reader of what a partyline.mux.v1 client sends (host/app/MuxProtocol).
// Input: one text frame, as the client sent it.
// Checks: no crash or UB; a frame is either a command or an error with its problem; a ref is
// JSON (so the answer that echoes it is too), as is every answer built from what was read; a
// join names a non-empty party and room; a command written back as JSON reads back the same.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "FuzzCheck.h"
#include "app/MuxProtocol.h"
#include "core/Base64.h"
#include "core/Json.h"

using namespace partyline;

namespace {

bool isJson(const std::string& text) {
    return parseJson(text, text.size() + 1).isOk();
}

// The command as a client would write it, for the round trip.
std::string encode(const MuxCommand& c, const std::string& ref) {
    std::string json = "{\"ref\":" + (ref.empty() ? std::string("null") : ref);
    switch (c.op) {
        case MuxCommand::Op::Join: {
            json += ",\"op\":\"join\",\"party\":" + jsonQuote(c.party) + ",\"room\":" + jsonQuote(c.room);
            if (!c.token.empty()) json += ",\"token\":" + jsonQuote(c.token);
            if (c.since) json += ",\"since\":" + std::to_string(*c.since);
            if (!c.epoch.empty()) json += ",\"epoch\":" + jsonQuote(c.epoch);
            json += ",\"query\":{";
            bool first = true;
            for (const auto& [k, v] : c.query) {
                json += (first ? "" : ",") + jsonQuote(k) + ":" + jsonQuote(v);
                first = false;
            }
            return json + "}}";
        }
        case MuxCommand::Op::Leave:
            return json + ",\"op\":\"leave\",\"room\":" + jsonQuote(c.room) + "}";
        case MuxCommand::Op::Send:
            json += ",\"op\":\"send\",\"room\":" + jsonQuote(c.room);
            if (c.binary) return json + ",\"binary\":true,\"data\":\"" + base64Encode(c.data) + "\"}";
            return json + ",\"data\":" + jsonQuote(c.data) + "}";
        case MuxCommand::Op::Refresh:
            return json + ",\"op\":\"refresh\",\"token\":" + jsonQuote(c.token) + "}";
    }
    return json + "}";
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    MuxParse parsed = parseMuxCommand(text);
    FUZZ_CHECK(parsed.ref.empty() || isJson(parsed.ref), "a ref is echoed as JSON");
    if (!parsed.command) {
        FUZZ_CHECK(!parsed.error.empty(), "a refused frame says why");
        FUZZ_CHECK(isJson(muxError(parsed.ref, 400, parsed.error)), "the error frame is JSON");
        return 0;
    }
    const MuxCommand& c = *parsed.command;
    if (c.op == MuxCommand::Op::Join) {
        FUZZ_CHECK(!c.party.empty() && !c.room.empty(), "a join names its party and room");
        FUZZ_CHECK(isJson(muxJoined(parsed.ref, c.party + "/" + c.room, "id")), "joined is JSON");
    }
    if (c.op == MuxCommand::Op::Send)
        FUZZ_CHECK(isJson(muxMessage(c.room, c.data, c.binary)), "a message is JSON");
    // jsonQuote keeps valid UTF-8 as it is, and the reader takes nothing else: the round trip is exact.
    MuxParse again = parseMuxCommand(encode(c, parsed.ref));
    FUZZ_CHECK(again.command, "a command written back reads back");
    const MuxCommand& d = *again.command;
    FUZZ_CHECK(again.ref == parsed.ref, "the same ref");
    FUZZ_CHECK(d.op == c.op && d.party == c.party && d.room == c.room && d.token == c.token &&
                   d.since == c.since && d.epoch == c.epoch && d.query == c.query && d.data == c.data &&
                   d.binary == c.binary,
               "the same command");
    return 0;
}
