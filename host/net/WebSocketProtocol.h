// WebSocketProtocol: RFC 6455 for the server side, as pure functions and one incremental parser.
//
// Provides the handshake answer (Sec-WebSocket-Accept), frame encoding for what the server sends
// (unmasked, never fragmented) and FrameReader, which turns client bytes into messages, control
// frames and protocol errors, each error with the close code the RFC asks for.
// Must not: do I/O, allocate a frame's declared length up front (a client may declare 2 GiB), or
// accept anything an extension would be needed for (none is negotiated, so RSV bits must be 0).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace partyline::net {

enum class Opcode : uint8_t { Continuation = 0, Text = 1, Binary = 2, Close = 8, Ping = 9, Pong = 10 };

// Close codes partyline sends or reports (RFC 6455 section 7.4.1 and the IANA registry).
namespace close_code {
constexpr uint16_t Normal = 1000;
constexpr uint16_t GoingAway = 1001;  // server shutting down
constexpr uint16_t ProtocolError = 1002;
constexpr uint16_t NoStatus = 1005;         // never sent: the peer's Close had no code
constexpr uint16_t Abnormal = 1006;         // never sent: the connection ended without a Close
constexpr uint16_t InvalidPayload = 1007;   // text that is not UTF-8
constexpr uint16_t PolicyViolation = 1008;  // over the message rate limit
constexpr uint16_t TooBig = 1009;
constexpr uint16_t TryAgainLater = 1013;  // slow consumer
constexpr uint16_t TokenExpired = 4001;   // the connection's token expired: get a new one, reconnect
}  // namespace close_code

// base64(sha1(clientKey + the RFC's GUID)): the value of Sec-WebSocket-Accept.
std::string websocketAcceptKey(std::string_view clientKey);

// The whole "101 Switching Protocols" answer to an upgrade request, ending with the blank line.
// `protocol` is the chosen subprotocol, or empty for none.
std::string upgradeResponse(std::string_view clientKey, std::string_view protocol);

// One server frame: FIN set, unmasked, with the shortest of the 7/16/64-bit length forms.
std::string encodeFrame(Opcode op, std::string_view payload);

// A Close frame. The reason is cut to fit the 125-byte control payload, on a UTF-8 character
// boundary so the peer does not reject it as invalid text. NoStatus (1005) encodes an empty body.
std::string encodeCloseFrame(uint16_t code, std::string_view reason);

// True for the codes a peer may put in a Close frame: 1000-1003, 1007-1014 and 3000-4999.
bool isValidCloseCode(uint16_t code);

// Checks UTF-8 a chunk at a time, so a text message split over frames (or over reads, or inside a
// character) can be rejected as soon as a bad byte arrives, without holding the whole message.
class Utf8Validator {
   public:
    // False as soon as the bytes so far cannot start valid UTF-8 (overlong forms, surrogates and
    // code points over U+10FFFF included). Stays false afterwards.
    bool feed(const uint8_t* bytes, size_t size);
    // True when the bytes so far end on a character boundary.
    bool complete() const { return needed_ == 0 && valid_; }
    void reset() { *this = Utf8Validator(); }

   private:
    uint8_t needed_ = 0;  // continuation bytes still expected in the current character
    uint8_t low_ = 0x80;  // allowed range of the next continuation byte
    uint8_t high_ = 0xBF;
    bool valid_ = true;
};

bool isValidUtf8(std::string_view text);

// Parses what a client sends. Owned and fed by one thread (the connection's reader); not shared.
class FrameReader {
   public:
    // Messages (after reassembly of fragments) larger than this are refused with close 1009.
    explicit FrameReader(size_t maxMessageBytes);

    struct Event {
        enum class Kind { Message, Ping, Pong, Close, ProtocolError } kind = Kind::Message;
        bool binary = false;  // Message: a binary message, else text (already checked as UTF-8)
        std::string payload;  // Message, Ping, Pong
        uint16_t code = 0;    // Close: the peer's code (1005 when none); ProtocolError: the code to send
        std::string reason;   // Close: the peer's reason; ProtocolError: what was wrong, to send back
    };

    // Consumes any number of bytes; a frame may arrive one byte at a time. Appends complete events
    // to `out`. After a ProtocolError or a Close it ignores further input: nothing after them can
    // be meaningful.
    void feed(std::string_view bytes, std::vector<Event>& out);

    // Heap bytes the reader's buffers hold now (capacity, not size): shows that memory follows the
    // bytes that arrived, not the lengths that were declared.
    size_t heldBytes() const;

    // True while a message or a control frame has begun and not ended: part of a frame's header
    // or payload arrived, or a fragmented message has frames to come. The Reactor gives such a
    // client limits.message_timeout_ms to finish.
    bool midMessage() const;

    // Stops reading and frees what is held: the connection is being closed, nothing it sends
    // from now on matters.
    void discard();

   private:
    enum class State { Header, Payload, Stopped };

    size_t readHeader(const uint8_t* data, size_t size, std::vector<Event>& out);
    bool checkFirstTwoBytes(std::vector<Event>& out);
    bool startFrame(std::vector<Event>& out);
    size_t readPayload(const uint8_t* data, size_t size, std::vector<Event>& out);
    void finishFrame(std::vector<Event>& out);
    void finishClose(std::vector<Event>& out);
    void fail(uint16_t code, std::string reason, std::vector<Event>& out);

    const size_t maxMessageBytes_;
    State state_ = State::Header;

    // The frame being read.
    uint8_t header_[14] = {};
    size_t headerSize_ = 0;    // bytes of header_ received
    size_t headerNeeded_ = 2;  // known once the first two bytes are in
    Opcode opcode_ = Opcode::Continuation;
    bool fin_ = false;
    uint8_t mask_[4] = {};
    uint64_t remaining_ = 0;  // payload bytes of this frame still to come
    size_t maskIndex_ = 0;

    // The data message being reassembled, and the control frame being read (at most 125 bytes).
    bool inMessage_ = false;
    bool messageBinary_ = false;
    std::string message_;
    std::string control_;
    Utf8Validator utf8_;
};

}  // namespace partyline::net
