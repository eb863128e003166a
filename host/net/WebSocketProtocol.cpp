#include "net/WebSocketProtocol.h"

#include <array>
#include <cstring>

namespace partyline::net {
namespace {

constexpr std::string_view kAcceptGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
constexpr size_t kMaxControlPayload = 125;

// SHA-1 (FIPS 180-4). Only the handshake uses it, on about 60 bytes, so clarity beats speed.
class Sha1 {
   public:
    void update(std::string_view data) {
        for (char c : data) {
            block_[blockSize_++] = uint8_t(c);
            if (blockSize_ == 64) processBlock();
        }
        totalBytes_ += data.size();
    }

    std::array<uint8_t, 20> finish() {
        uint64_t bitLength = totalBytes_ * 8;
        block_[blockSize_++] = 0x80;
        if (blockSize_ > 56) {
            while (blockSize_ < 64) block_[blockSize_++] = 0;
            processBlock();
        }
        while (blockSize_ < 56) block_[blockSize_++] = 0;
        for (int i = 7; i >= 0; --i) block_[blockSize_++] = uint8_t(bitLength >> (i * 8));
        processBlock();
        std::array<uint8_t, 20> digest{};
        for (size_t i = 0; i < 5; ++i) {
            for (size_t j = 0; j < 4; ++j) digest[i * 4 + j] = uint8_t(h_[i] >> (24 - j * 8));
        }
        return digest;
    }

   private:
    static uint32_t rotl(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

    void processBlock() {
        uint32_t w[80];
        for (size_t i = 0; i < 16; ++i) {
            w[i] = uint32_t(block_[i * 4]) << 24 | uint32_t(block_[i * 4 + 1]) << 16 |
                   uint32_t(block_[i * 4 + 2]) << 8 | uint32_t(block_[i * 4 + 3]);
        }
        for (size_t i = 16; i < 80; ++i) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h_[0], b = h_[1], c = h_[2], d = h_[3], e = h_[4];
        for (size_t i = 0; i < 80; ++i) {
            uint32_t f, k;
            if (i < 20) {
                f = (b & c) | (~b & d), k = 0x5A827999;
            } else if (i < 40) {
                f = b ^ c ^ d, k = 0x6ED9EBA1;
            } else if (i < 60) {
                f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
            } else {
                f = b ^ c ^ d, k = 0xCA62C1D6;
            }
            uint32_t t = rotl(a, 5) + f + e + k + w[i];
            e = d, d = c, c = rotl(b, 30), b = a, a = t;
        }
        h_[0] += a, h_[1] += b, h_[2] += c, h_[3] += d, h_[4] += e;
        blockSize_ = 0;
    }

    uint32_t h_[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
    uint8_t block_[64] = {};
    size_t blockSize_ = 0;
    uint64_t totalBytes_ = 0;
};

std::string base64(const uint8_t* data, size_t size) {
    static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((size + 2) / 3 * 4);
    for (size_t i = 0; i < size; i += 3) {
        uint32_t group = uint32_t(data[i]) << 16;
        if (i + 1 < size) group |= uint32_t(data[i + 1]) << 8;
        if (i + 2 < size) group |= data[i + 2];
        out += kAlphabet[(group >> 18) & 63];
        out += kAlphabet[(group >> 12) & 63];
        out += i + 1 < size ? kAlphabet[(group >> 6) & 63] : '=';
        out += i + 2 < size ? kAlphabet[group & 63] : '=';
    }
    return out;
}

bool isControl(Opcode op) {
    return uint8_t(op) >= 8;
}

bool isKnownOpcode(uint8_t op) {
    return op <= 2 || (op >= 8 && op <= 10);
}

void unmask(char* data, size_t size, const uint8_t mask[4], size_t& maskIndex) {
    for (size_t i = 0; i < size; ++i) {
        data[i] = char(uint8_t(data[i]) ^ mask[maskIndex]);
        maskIndex = (maskIndex + 1) & 3;
    }
}

}  // namespace

std::string websocketAcceptKey(std::string_view clientKey) {
    Sha1 sha;
    sha.update(clientKey);
    sha.update(kAcceptGuid);
    auto digest = sha.finish();
    return base64(digest.data(), digest.size());
}

std::string upgradeResponse(std::string_view clientKey, std::string_view protocol) {
    std::string out =
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Accept: ";
    out += websocketAcceptKey(clientKey);
    out += "\r\n";
    if (!protocol.empty()) {
        out += "Sec-WebSocket-Protocol: ";
        out += protocol;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

std::string encodeFrame(Opcode op, std::string_view payload) {
    std::string frame;
    size_t size = payload.size();
    frame.reserve(size + 10);
    frame += char(0x80 | uint8_t(op));
    if (size < 126) {
        frame += char(size);
    } else if (size <= 0xFFFF) {
        frame += char(126);
        frame += char(size >> 8);
        frame += char(size & 0xFF);
    } else {
        frame += char(127);
        for (int i = 7; i >= 0; --i) frame += char(uint64_t(size) >> (i * 8));
    }
    frame += payload;
    return frame;
}

std::string encodeCloseFrame(uint16_t code, std::string_view reason) {
    if (code == close_code::NoStatus) return encodeFrame(Opcode::Close, {});
    size_t room = kMaxControlPayload - 2;
    if (reason.size() > room) {
        size_t cut = room;
        // Back up over continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
        while (cut > 0 && (uint8_t(reason[cut]) & 0xC0) == 0x80) --cut;
        reason = reason.substr(0, cut);
    }
    std::string payload;
    payload.reserve(2 + reason.size());
    payload += char(code >> 8);
    payload += char(code & 0xFF);
    payload += reason;
    return encodeFrame(Opcode::Close, payload);
}

bool isValidCloseCode(uint16_t code) {
    if (code >= 1000 && code <= 1003) return true;
    if (code >= 1007 && code <= 1014) return true;
    return code >= 3000 && code <= 4999;
}

bool Utf8Validator::feed(const uint8_t* bytes, size_t size) {
    if (!valid_) return false;
    size_t i = 0;
    while (i < size) {
        uint8_t b = bytes[i];
        if (needed_ == 0) {
            // Fast path: runs of ASCII, eight bytes at a time.
            while (i + 8 <= size) {
                uint64_t word;
                std::memcpy(&word, bytes + i, 8);
                if (word & 0x8080808080808080ULL) break;
                i += 8;
            }
            if (i == size) break;
            b = bytes[i++];
            if (b < 0x80) continue;
            if (b < 0xC2) {  // a stray continuation byte, or an overlong two-byte form
                valid_ = false;
            } else if (b < 0xE0) {
                needed_ = 1, low_ = 0x80, high_ = 0xBF;
            } else if (b < 0xF0) {
                needed_ = 2;
                low_ = b == 0xE0 ? 0xA0 : 0x80;   // overlong three-byte forms
                high_ = b == 0xED ? 0x9F : 0xBF;  // UTF-16 surrogates
            } else if (b < 0xF5) {
                needed_ = 3;
                low_ = b == 0xF0 ? 0x90 : 0x80;   // overlong four-byte forms
                high_ = b == 0xF4 ? 0x8F : 0xBF;  // over U+10FFFF
            } else {
                valid_ = false;
            }
            if (!valid_) return false;
            continue;
        }
        ++i;
        if (b < low_ || b > high_) return valid_ = false;
        --needed_;
        low_ = 0x80, high_ = 0xBF;
    }
    return true;
}

bool isValidUtf8(std::string_view text) {
    Utf8Validator v;
    return v.feed(reinterpret_cast<const uint8_t*>(text.data()), text.size()) && v.complete();
}

FrameReader::FrameReader(size_t maxMessageBytes) : maxMessageBytes_(maxMessageBytes) {}

size_t FrameReader::heldBytes() const {
    // Capacity up to the small-string buffer lives inside the object, not on the heap.
    static const size_t inlineCapacity = std::string().capacity();
    auto heap = [](const std::string& s) { return s.capacity() > inlineCapacity ? s.capacity() : 0; };
    return heap(message_) + heap(control_);
}

bool FrameReader::midMessage() const {
    return state_ == State::Payload || (state_ == State::Header && (headerSize_ > 0 || inMessage_));
}

void FrameReader::discard() {
    state_ = State::Stopped;
    message_ = std::string();
    control_ = std::string();
}

void FrameReader::feed(std::string_view bytes, std::vector<Event>& out) {
    auto* data = reinterpret_cast<const uint8_t*>(bytes.data());
    size_t size = bytes.size();
    size_t pos = 0;
    // A zero-length frame completes without input, so loop while there is input or a header to finish.
    while (state_ != State::Stopped && (pos < size || (state_ == State::Payload && remaining_ == 0))) {
        if (state_ == State::Header) {
            pos += readHeader(data + pos, size - pos, out);
        } else {
            pos += readPayload(data + pos, size - pos, out);
        }
    }
}

size_t FrameReader::readHeader(const uint8_t* data, size_t size, std::vector<Event>& out) {
    size_t used = 0;
    while (used < size && headerSize_ < headerNeeded_) {
        header_[headerSize_++] = data[used++];
        if (headerSize_ == 2 && !checkFirstTwoBytes(out)) return used;
    }
    if (headerSize_ == headerNeeded_ && startFrame(out)) state_ = State::Payload;
    return used;
}

// Everything that can be refused from the first two bytes is refused there, before the client
// sends (and we wait for) the rest of the header.
bool FrameReader::checkFirstTwoBytes(std::vector<Event>& out) {
    uint8_t b0 = header_[0], b1 = header_[1];
    fin_ = (b0 & 0x80) != 0;
    uint8_t op = b0 & 0x0F;
    uint8_t len7 = b1 & 0x7F;
    if (b0 & 0x70)
        return fail(close_code::ProtocolError, "reserved bits set without an extension", out), false;
    if (!isKnownOpcode(op)) {
        return fail(close_code::ProtocolError, "unknown opcode " + std::to_string(op), out), false;
    }
    opcode_ = Opcode(op);
    if (!(b1 & 0x80)) return fail(close_code::ProtocolError, "client frame is not masked", out), false;
    if (isControl(opcode_)) {
        if (!fin_) return fail(close_code::ProtocolError, "fragmented control frame", out), false;
        if (len7 > kMaxControlPayload) {
            return fail(close_code::ProtocolError, "control frame payload over 125 bytes", out), false;
        }
    } else if (opcode_ == Opcode::Continuation && !inMessage_) {
        return fail(close_code::ProtocolError, "continuation frame without a message to continue", out),
               false;
    } else if (opcode_ != Opcode::Continuation && inMessage_) {
        return fail(close_code::ProtocolError, "new message before the fragmented one finished", out), false;
    }
    headerNeeded_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
    return true;
}

bool FrameReader::startFrame(std::vector<Event>& out) {
    uint8_t len7 = header_[1] & 0x7F;
    size_t pos = 2;
    uint64_t length = len7;
    if (len7 == 126) {
        length = uint64_t(header_[2]) << 8 | header_[3];
        pos = 4;
    } else if (len7 == 127) {
        length = 0;
        for (size_t i = 0; i < 8; ++i) length = length << 8 | header_[2 + i];
        pos = 10;
        if (length >> 63)
            return fail(close_code::ProtocolError, "frame length has its top bit set", out), false;
    }
    std::memcpy(mask_, header_ + pos, 4);
    maskIndex_ = 0;
    remaining_ = length;
    headerSize_ = 0;
    headerNeeded_ = 2;
    if (isControl(opcode_)) return true;
    // The limit is checked here, from the declared length, so no payload is read or buffered.
    if (length > maxMessageBytes_ || message_.size() > maxMessageBytes_ - length) {
        fail(close_code::TooBig, "message over the limit of " + std::to_string(maxMessageBytes_) + " bytes",
             out);
        return false;
    }
    if (opcode_ != Opcode::Continuation) {
        inMessage_ = true;
        messageBinary_ = opcode_ == Opcode::Binary;
    }
    return true;
}

size_t FrameReader::readPayload(const uint8_t* data, size_t size, std::vector<Event>& out) {
    size_t take = size_t(std::min<uint64_t>(remaining_, size));
    if (take > 0) {
        // Appending only what arrived keeps the buffer proportional to received bytes.
        std::string& target = isControl(opcode_) ? control_ : message_;
        size_t start = target.size();
        target.append(reinterpret_cast<const char*>(data), take);
        unmask(target.data() + start, take, mask_, maskIndex_);
        remaining_ -= take;
        if (!isControl(opcode_) && !messageBinary_ &&
            !utf8_.feed(reinterpret_cast<const uint8_t*>(target.data() + start), take)) {
            fail(close_code::InvalidPayload, "text message is not valid UTF-8", out);
            return take;
        }
    }
    if (remaining_ == 0) {
        state_ = State::Header;
        finishFrame(out);
    }
    return take;
}

void FrameReader::finishFrame(std::vector<Event>& out) {
    switch (opcode_) {
        case Opcode::Ping:
        case Opcode::Pong: {
            Event e;
            e.kind = opcode_ == Opcode::Ping ? Event::Kind::Ping : Event::Kind::Pong;
            e.payload = std::move(control_);
            control_ = std::string();
            out.push_back(std::move(e));
            return;
        }
        case Opcode::Close:
            return finishClose(out);
        default:
            break;
    }
    if (!fin_) return;
    if (!messageBinary_ && !utf8_.complete()) {
        return fail(close_code::InvalidPayload, "text message ends inside a UTF-8 character", out);
    }
    Event e;
    e.kind = Event::Kind::Message;
    e.binary = messageBinary_;
    e.payload = std::move(message_);
    message_ = std::string();  // an idle connection holds no message buffer
    inMessage_ = false;
    utf8_.reset();
    out.push_back(std::move(e));
}

void FrameReader::finishClose(std::vector<Event>& out) {
    std::string payload = std::move(control_);
    control_ = std::string();
    Event e;
    e.kind = Event::Kind::Close;
    if (payload.empty()) {
        e.code = close_code::NoStatus;
    } else if (payload.size() == 1) {
        return fail(close_code::ProtocolError, "close frame with a one-byte payload", out);
    } else {
        e.code = uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1]));
        if (!isValidCloseCode(e.code)) {
            return fail(close_code::ProtocolError, "invalid close code " + std::to_string(e.code), out);
        }
        e.reason = payload.substr(2);
        if (!isValidUtf8(e.reason)) {
            return fail(close_code::InvalidPayload, "close reason is not valid UTF-8", out);
        }
    }
    state_ = State::Stopped;
    out.push_back(std::move(e));
}

void FrameReader::fail(uint16_t code, std::string reason, std::vector<Event>& out) {
    state_ = State::Stopped;
    message_ = std::string();
    control_ = std::string();
    Event e;
    e.kind = Event::Kind::ProtocolError;
    e.code = code;
    e.reason = std::move(reason);
    out.push_back(std::move(e));
}

}  // namespace partyline::net
