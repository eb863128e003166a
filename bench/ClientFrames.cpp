#include "ClientFrames.h"

#include <cstring>

namespace partyline::bench {

namespace {

void appendHeader(std::string& out, Opcode op, size_t length, uint32_t maskKey) {
    out.push_back(char(0x80 | uint8_t(op)));
    if (length < 126) {
        out.push_back(char(0x80 | length));
    } else if (length <= 0xFFFF) {
        out.push_back(char(0x80 | 126));
        out.push_back(char(length >> 8));
        out.push_back(char(length & 0xFF));
    } else {
        out.push_back(char(0x80 | 127));
        for (int i = 7; i >= 0; --i) out.push_back(char((uint64_t(length) >> (i * 8)) & 0xFF));
    }
    for (int i = 3; i >= 0; --i) out.push_back(char((maskKey >> (i * 8)) & 0xFF));
}

void appendMasked(std::string& out, std::string_view payload, uint32_t maskKey) {
    const uint8_t key[4] = {uint8_t(maskKey >> 24), uint8_t(maskKey >> 16), uint8_t(maskKey >> 8),
                            uint8_t(maskKey)};
    size_t start = out.size();
    out.append(payload);
    for (size_t i = 0; i < payload.size(); ++i) out[start + i] = char(uint8_t(out[start + i]) ^ key[i & 3]);
}

bool isControl(Opcode op) {
    return uint8_t(op) >= 8;
}

}  // namespace

void appendClientFrame(std::string& out, Opcode op, std::string_view payload, uint32_t maskKey) {
    appendHeader(out, op, payload.size(), maskKey);
    appendMasked(out, payload, maskKey);
}

void appendClientClose(std::string& out, uint16_t code, uint32_t maskKey) {
    const char body[2] = {char(code >> 8), char(code & 0xFF)};
    appendClientFrame(out, Opcode::Close, std::string_view(body, 2), maskKey);
}

void ServerFrameReader::feed(std::string_view bytes, FrameSink& sink) {
    if (stopped_) return;
    std::string_view data = bytes;
    if (!pending_.empty()) {
        pending_.append(bytes);
        data = pending_;
    }
    size_t offset = 0;
    while (!stopped_ && offset < data.size()) {
        size_t used = parseFrame(data.substr(offset), sink);
        if (used == 0) break;
        offset += used;
    }
    if (stopped_) {
        pending_.clear();
    } else if (pending_.empty()) {
        pending_.assign(data.substr(offset));
    } else {
        pending_.erase(0, offset);
    }
}

size_t ServerFrameReader::parseFrame(std::string_view data, FrameSink& sink) {
    if (data.size() < 2) return 0;
    const auto* p = reinterpret_cast<const uint8_t*>(data.data());
    bool fin = p[0] & 0x80;
    auto op = Opcode(p[0] & 0x0F);
    bool masked = p[1] & 0x80;
    uint64_t length = p[1] & 0x7F;
    size_t header = 2;
    if (p[0] & 0x70) {
        fail("reserved bits set", sink);
        return 0;
    }
    if (length == 126) {
        if (data.size() < 4) return 0;
        length = uint64_t(p[2]) << 8 | p[3];
        header = 4;
    } else if (length == 127) {
        if (data.size() < 10) return 0;
        length = 0;
        for (int i = 0; i < 8; ++i) length = length << 8 | p[2 + i];
        header = 10;
    }
    if (length > maxMessageBytes_ || (isControl(op) && (length > 125 || !fin))) {
        fail(length > maxMessageBytes_ ? "frame longer than the limit" : "bad control frame", sink);
        return 0;
    }
    size_t keyAt = header;
    if (masked) header += 4;
    if (data.size() < header + length) return 0;
    std::string_view payload = data.substr(header, size_t(length));
    if (masked) {
        unmasked_.assign(payload);
        for (size_t i = 0; i < unmasked_.size(); ++i) unmasked_[i] = char(unmasked_[i] ^ p[keyAt + (i & 3)]);
        payload = unmasked_;
    }
    finishFrame(op, fin, payload, sink);
    return header + size_t(length);
}

void ServerFrameReader::finishFrame(Opcode op, bool fin, std::string_view payload, FrameSink& sink) {
    switch (op) {
        case Opcode::Ping:
            return sink.onPing(payload);
        case Opcode::Pong:
            return;
        case Opcode::Close: {
            stopped_ = true;
            uint16_t code = payload.size() >= 2 ? uint16_t(uint8_t(payload[0]) << 8 | uint8_t(payload[1]))
                                                : net::close_code::NoStatus;
            return sink.onClose(code);
        }
        case Opcode::Text:
        case Opcode::Binary:
            if (inMessage_) return fail("new message inside a fragmented one", sink);
            if (fin) return sink.onMessage(op == Opcode::Binary, payload);
            inMessage_ = true;
            messageBinary_ = op == Opcode::Binary;
            message_.assign(payload);
            return;
        case Opcode::Continuation:
            if (!inMessage_) return fail("continuation without a message", sink);
            if (message_.size() + payload.size() > maxMessageBytes_)
                return fail("message longer than the limit", sink);
            message_.append(payload);
            if (!fin) return;
            inMessage_ = false;
            sink.onMessage(messageBinary_, message_);
            message_.clear();
            return;
    }
    fail("unknown opcode", sink);
}

void ServerFrameReader::fail(std::string_view why, FrameSink& sink) {
    stopped_ = true;
    sink.onProtocolError(why);
}

}  // namespace partyline::bench
