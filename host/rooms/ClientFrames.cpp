#include "rooms/ClientFrames.h"

#include <memory>

#include "core/Base64.h"
#include "core/Json.h"
#include "net/WebSocketProtocol.h"

namespace partyline {

namespace {

FramePtr makeFrame(net::Opcode opcode, std::string_view payload) {
    return std::make_shared<const std::string>(net::encodeFrame(opcode, payload));
}

// `prefix` opens the object ("{" or "{\"seq\":N,"); binary data travels base64-encoded with
// "binary":true.
FramePtr wrapped(std::string json, std::string_view data, bool binary) {
    if (binary)
        json += "\"binary\":true,\"data\":\"" + base64Encode(data) + "\"}";
    else
        json += "\"data\":" + jsonQuote(data) + "}";
    return makeFrame(net::Opcode::Text, json);
}

}  // namespace

FramePtr rawWriteFrame(const LogEntry& entry) {
    return makeFrame(entry.binary ? net::Opcode::Binary : net::Opcode::Text, entry.data);
}

FramePtr versionedWriteFrame(const LogEntry& entry) {
    return wrapped("{\"seq\":" + std::to_string(entry.seq) + ",", entry.data, entry.binary);
}

FramePtr writeFrameFor(const Client& client, const LogEntry& entry) {
    return client.versioned() ? versionedWriteFrame(entry) : rawWriteFrame(entry);
}

FramePtr directFrameFor(const Client& client, std::string_view data, bool binary) {
    if (client.versioned()) return wrapped("{", data, binary);
    return makeFrame(binary ? net::Opcode::Binary : net::Opcode::Text, data);
}

FramePtr truncatedFrame(uint64_t since, uint64_t first, const std::string& epoch) {
    std::string json =
        "{\"truncated\":true,\"since\":" + std::to_string(since) + ",\"first\":" + std::to_string(first);
    if (!epoch.empty()) json += ",\"epoch\":" + jsonQuote(epoch);
    return makeFrame(net::Opcode::Text, json + "}");
}

}  // namespace partyline
