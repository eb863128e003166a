// ClientFrames: RFC 6455 framing from the client's side.
//
// Provides the masked frames a client must send (section 5.3) and ServerFrameReader, which turns
// the bytes a server sends into messages (fragments reassembled), pings and a close.
// Must not: do I/O, or accept a frame longer than the reader's limit (the length is checked from
// the header, before any payload is held).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "net/WebSocketProtocol.h"

namespace partyline::bench {

using net::Opcode;

// Appends one final frame with its payload masked by `maskKey`.
void appendClientFrame(std::string& out, Opcode op, std::string_view payload, uint32_t maskKey);

// Appends a Close frame with `code` and no reason.
void appendClientClose(std::string& out, uint16_t code, uint32_t maskKey);

// What the reader hands over. Views are valid only during the call.
class FrameSink {
   public:
    virtual ~FrameSink() = default;
    virtual void onMessage(bool binary, std::string_view payload) = 0;
    virtual void onPing(std::string_view payload) = 0;
    virtual void onClose(uint16_t code) = 0;  // 1005 when the Close had no code
    virtual void onProtocolError(std::string_view why) = 0;
};

// Owned by the thread that reads the connection.
class ServerFrameReader {
   public:
    explicit ServerFrameReader(size_t maxMessageBytes) : maxMessageBytes_(maxMessageBytes) {}

    // Consumes any number of bytes. After a close or an error it ignores the rest.
    void feed(std::string_view bytes, FrameSink& sink);

   private:
    // Parses one frame at the front of `data`; returns the bytes consumed, 0 when incomplete.
    size_t parseFrame(std::string_view data, FrameSink& sink);
    void finishFrame(Opcode op, bool fin, std::string_view payload, FrameSink& sink);
    void fail(std::string_view why, FrameSink& sink);

    const size_t maxMessageBytes_;
    bool stopped_ = false;
    std::string pending_;  // bytes of an incomplete frame
    bool inMessage_ = false;
    bool messageBinary_ = false;
    std::string message_;   // fragments of a message so far
    std::string unmasked_;  // scratch for the rare masked server frame
};

}  // namespace partyline::bench
