// RFC 6455 framing: one test per rule of FrameReader, plus the encoders and the handshake key.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "NetTestSupport.h"
#include "net/WebSocketProtocol.h"

namespace partyline::net {
namespace {

using test::closePayload;
using test::maskedFrame;
using test::maskedHeader;
using Event = FrameReader::Event;
using Kind = FrameReader::Event::Kind;

constexpr uint8_t kFin = 0x80;
constexpr uint8_t kText = 0x01, kBinary = 0x02, kClose = 0x08, kPing = 0x09, kPong = 0x0A;

std::vector<Event> feedAll(FrameReader& reader, std::string_view bytes) {
    std::vector<Event> out;
    reader.feed(bytes, out);
    return out;
}

std::vector<Event> parse(std::string_view bytes, size_t limit = 1 << 20) {
    FrameReader reader(limit);
    return feedAll(reader, bytes);
}

std::vector<Event> parseByteAtATime(std::string_view bytes, size_t limit = 1 << 20) {
    FrameReader reader(limit);
    std::vector<Event> out;
    for (char c : bytes) reader.feed(std::string_view(&c, 1), out);
    return out;
}

// The single event of `bytes`, which must be a protocol error; returns its close code.
uint16_t errorCode(std::string_view bytes, size_t limit = 1 << 20) {
    auto events = parse(bytes, limit);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == Kind::ProtocolError);
    CHECK(!events[0].reason.empty());
    return events[0].code;
}

TEST_SUITE("net.WebSocketProtocol") {
    TEST_CASE("accept key matches the RFC 6455 example") {
        // RFC 6455 section 1.3; the SHA-1 is b37a4f2cc0624f1690f64606cf385945b2bec4ea.
        CHECK(websocketAcceptKey("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    TEST_CASE("accept key pads base64 and hashes keys longer than one SHA-1 block") {
        // Keys of other lengths exercise the SHA-1 padding across a block boundary.
        CHECK(websocketAcceptKey("") == "Kfh9QIsMVZcl6xEPYxPHzW8SZ8w=");
        CHECK(websocketAcceptKey(std::string(100, 'a')) == "+taVhj8zzaJPYE6HHo1ugamK/Ug=");
        CHECK(websocketAcceptKey("x") != websocketAcceptKey("y"));
    }

    TEST_CASE("upgrade response carries the accept key and the chosen subprotocol") {
        std::string plain = upgradeResponse("dGhlIHNhbXBsZSBub25jZQ==", "");
        CHECK(plain.rfind("HTTP/1.1 101 Switching Protocols\r\n", 0) == 0);
        CHECK(plain.find("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n") != std::string::npos);
        CHECK(plain.find("Sec-WebSocket-Protocol") == std::string::npos);
        CHECK(plain.substr(plain.size() - 4) == "\r\n\r\n");
        std::string withProtocol = upgradeResponse("dGhlIHNhbXBsZSBub25jZQ==", "partyline.v1");
        CHECK(withProtocol.find("Sec-WebSocket-Protocol: partyline.v1\r\n") != std::string::npos);
    }

    TEST_CASE("encodeFrame uses the shortest length form, unmasked, with FIN") {
        auto check = [](size_t size, size_t headerSize) {
            std::string frame = encodeFrame(Opcode::Binary, std::string(size, 'x'));
            CHECK(frame.size() == size + headerSize);
            CHECK(uint8_t(frame[0]) == 0x82);
            CHECK((uint8_t(frame[1]) & 0x80) == 0);
        };
        check(0, 2);
        check(125, 2);
        check(126, 4);
        check(65535, 4);
        check(65536, 10);
        std::string frame = encodeFrame(Opcode::Text, std::string(300, 'y'));
        CHECK(uint8_t(frame[1]) == 126);
        CHECK((uint8_t(frame[2]) << 8 | uint8_t(frame[3])) == 300);
    }

    TEST_CASE("encodeCloseFrame writes the code and cuts a long reason on a UTF-8 boundary") {
        std::string frame = encodeCloseFrame(1013, "slow");
        REQUIRE(frame.size() == 2 + 2 + 4);
        CHECK(uint8_t(frame[0]) == 0x88);
        CHECK((uint8_t(frame[2]) << 8 | uint8_t(frame[3])) == 1013);
        CHECK(frame.substr(4) == "slow");

        std::string accents;
        for (int i = 0; i < 100; ++i) accents += "\xC3\xA9";  // 200 bytes of 'é'
        std::string cut = encodeCloseFrame(1000, accents);
        size_t payload = uint8_t(cut[1]);
        CHECK(payload <= 125);
        CHECK(payload == 2 + 122);  // 123 bytes would split a character
        CHECK(isValidUtf8(cut.substr(4)));

        CHECK(encodeCloseFrame(1005, "ignored") == std::string("\x88\x00", 2));
    }

    TEST_CASE("close codes: registered ones and the application range are valid, the rest are not") {
        for (uint16_t code :
             {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4999}) {
            CHECK_MESSAGE(isValidCloseCode(code), code);
        }
        for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
            CHECK_MESSAGE(!isValidCloseCode(code), code);
        }
    }

    TEST_CASE("UTF-8: valid text of every length class") {
        CHECK(isValidUtf8(""));
        CHECK(isValidUtf8("plain ascii, long enough for the eight-byte fast path"));
        CHECK(isValidUtf8("\xC2\x80 \xDF\xBF"));                       // U+0080, U+07FF
        CHECK(isValidUtf8("\xE0\xA0\x80 \xED\x9F\xBF \xEF\xBF\xBF"));  // U+0800, U+D7FF, U+FFFF
        CHECK(isValidUtf8("\xF0\x90\x80\x80 \xF4\x8F\xBF\xBF"));       // U+10000, U+10FFFF
        CHECK(isValidUtf8("κόσμε"));
    }

    TEST_CASE("UTF-8: overlong forms, surrogates, out of range and truncation are invalid") {
        CHECK(!isValidUtf8("\x80"));              // stray continuation
        CHECK(!isValidUtf8("\xC0\x80"));          // overlong NUL
        CHECK(!isValidUtf8("\xC1\xBF"));          // overlong
        CHECK(!isValidUtf8("\xE0\x80\x80"));      // overlong three-byte
        CHECK(!isValidUtf8("\xF0\x80\x80\x80"));  // overlong four-byte
        CHECK(!isValidUtf8("\xED\xA0\x80"));      // U+D800 surrogate
        CHECK(!isValidUtf8("\xED\xBF\xBF"));      // U+DFFF surrogate
        CHECK(!isValidUtf8("\xF4\x90\x80\x80"));  // U+110000
        CHECK(!isValidUtf8("\xF5\x80\x80\x80"));
        CHECK(!isValidUtf8("\xFF"));
        CHECK(!isValidUtf8("\xE2\x82"));  // truncated
        CHECK(!isValidUtf8("abc\xC3"));
        CHECK(!isValidUtf8("\xC3\x28"));  // bad continuation
    }

    TEST_CASE("UTF-8: a character split across chunks is valid, and an error stays an error") {
        Utf8Validator v;
        const uint8_t euro[] = {0xE2, 0x82, 0xAC};
        CHECK(v.feed(euro, 1));
        CHECK(!v.complete());
        CHECK(v.feed(euro + 1, 2));
        CHECK(v.complete());
        const uint8_t bad[] = {0xC0};
        CHECK(!v.feed(bad, 1));
        const uint8_t ok[] = {'a'};
        CHECK(!v.feed(ok, 1));
        CHECK(!v.complete());
    }

    TEST_CASE("a masked text frame becomes one text message") {
        auto events = parse(maskedFrame(kFin | kText, "hello"));
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == Kind::Message);
        CHECK(!events[0].binary);
        CHECK(events[0].payload == "hello");
    }

    TEST_CASE("binary frames keep any bytes, including invalid UTF-8") {
        std::string bytes("\x00\xFF\xC0\x80", 4);
        auto events = parse(maskedFrame(kFin | kBinary, bytes));
        REQUIRE(events.size() == 1);
        CHECK(events[0].binary);
        CHECK(events[0].payload == bytes);
    }

    TEST_CASE("empty messages and the 16- and 64-bit length forms") {
        std::string medium(1000, 'm'), large(70000, 'L');
        auto events = parse(maskedFrame(kFin | kText, "") + maskedFrame(kFin | kText, medium) +
                            maskedFrame(kFin | kBinary, large));
        REQUIRE(events.size() == 3);
        CHECK(events[0].payload.empty());
        CHECK(events[1].payload == medium);
        CHECK(events[2].payload == large);
    }

    TEST_CASE("frames fed one byte at a time give the same events") {
        std::string stream = maskedFrame(kText, "frag") + maskedFrame(kFin | kPing, "p") +
                             maskedFrame(kFin | 0x00, "mented \xE2\x82\xAC") +
                             maskedFrame(kFin | kBinary, "") +
                             maskedFrame(kFin | kBinary, std::string(300, 'b')) +
                             maskedFrame(kFin | kClose, closePayload(1000, "bye"));
        auto whole = parse(stream);
        auto bytewise = parseByteAtATime(stream);
        REQUIRE(bytewise.size() == 5);
        REQUIRE(whole.size() == bytewise.size());
        CHECK(bytewise[0].kind == Kind::Ping);
        CHECK(bytewise[1].payload == "fragmented \xE2\x82\xAC");
        CHECK(bytewise[2].payload.empty());
        CHECK(bytewise[3].payload == std::string(300, 'b'));
        CHECK(bytewise[4].kind == Kind::Close);
        for (size_t i = 0; i < whole.size(); ++i) {
            CHECK(whole[i].kind == bytewise[i].kind);
            CHECK(whole[i].payload == bytewise[i].payload);
        }
    }

    TEST_CASE(
        "fragments are joined, control frames may come between them, binary flag is the first frame's") {
        auto events = parse(maskedFrame(kBinary, "ab") + maskedFrame(kFin | kPong, "x") +
                            maskedFrame(0x00, "cd") + maskedFrame(kFin | 0x00, "ef"));
        REQUIRE(events.size() == 2);
        CHECK(events[0].kind == Kind::Pong);
        CHECK(events[0].payload == "x");
        CHECK(events[1].kind == Kind::Message);
        CHECK(events[1].binary);
        CHECK(events[1].payload == "abcdef");
    }

    TEST_CASE("ping and pong carry their payloads") {
        auto events = parse(maskedFrame(kFin | kPing, "are you there") + maskedFrame(kFin | kPong, "yes"));
        REQUIRE(events.size() == 2);
        CHECK(events[0].kind == Kind::Ping);
        CHECK(events[0].payload == "are you there");
        CHECK(events[1].kind == Kind::Pong);
        CHECK(events[1].payload == "yes");
    }

    TEST_CASE("unmasked client frame: 1002") {
        CHECK(errorCode(encodeFrame(Opcode::Text, "hi")) == 1002);
    }

    TEST_CASE("RSV bits without an extension: 1002") {
        for (uint8_t rsv : {0x40, 0x20, 0x10}) CHECK(errorCode(maskedFrame(kFin | rsv | kText, "x")) == 1002);
    }

    TEST_CASE("unknown opcodes: 1002") {
        for (uint8_t op : {3, 4, 5, 6, 7, 11, 12, 13, 14, 15}) {
            CHECK_MESSAGE(errorCode(maskedFrame(kFin | op, "")) == 1002, int(op));
        }
    }

    TEST_CASE("control frame over 125 bytes: 1002") {
        CHECK(errorCode(maskedFrame(kFin | kPing, std::string(126, 'p'))) == 1002);
        CHECK(parse(maskedFrame(kFin | kPing, std::string(125, 'p')))[0].kind == Kind::Ping);
    }

    TEST_CASE("fragmented control frame: 1002") {
        CHECK(errorCode(maskedFrame(kPing, "p")) == 1002);
        CHECK(errorCode(maskedFrame(kClose, "")) == 1002);
    }

    TEST_CASE("continuation without a message to continue: 1002") {
        CHECK(errorCode(maskedFrame(kFin | 0x00, "orphan")) == 1002);
    }

    TEST_CASE("a new data frame before the fragmented message finished: 1002") {
        auto events = parse(maskedFrame(kText, "first") + maskedFrame(kFin | kText, "second"));
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == Kind::ProtocolError);
        CHECK(events[0].code == 1002);
    }

    TEST_CASE("64-bit length with its top bit set: 1002") {
        CHECK(errorCode(maskedHeader(kFin | kBinary, uint64_t(1) << 63)) == 1002);
    }

    TEST_CASE("text that is not UTF-8: 1007") {
        CHECK(errorCode(maskedFrame(kFin | kText, "bad \xC0\x80 text")) == 1007);
    }

    TEST_CASE("invalid UTF-8 in an early fragment fails before the message ends") {
        auto events = parse(maskedFrame(kText, "\xED\xA0\x80"));  // a surrogate, FIN not set
        REQUIRE(events.size() == 1);
        CHECK(events[0].code == 1007);
    }

    TEST_CASE("a text message may split a character across fragments, but not end inside one") {
        auto ok = parse(maskedFrame(kText, "\xE2\x82") + maskedFrame(kFin | 0x00, "\xAC"));
        REQUIRE(ok.size() == 1);
        CHECK(ok[0].payload == "\xE2\x82\xAC");
        CHECK(errorCode(maskedFrame(kFin | kText, "\xE2\x82")) == 1007);
    }

    TEST_CASE("close without payload reports 1005") {
        auto events = parse(maskedFrame(kFin | kClose, ""));
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == Kind::Close);
        CHECK(events[0].code == 1005);
        CHECK(events[0].reason.empty());
    }

    TEST_CASE("close carries the peer's code and reason") {
        auto events = parse(maskedFrame(kFin | kClose, closePayload(4001, "game over")));
        REQUIRE(events.size() == 1);
        CHECK(events[0].code == 4001);
        CHECK(events[0].reason == "game over");
    }

    TEST_CASE("close with a one-byte payload: 1002") {
        CHECK(errorCode(maskedFrame(kFin | kClose, "\x03")) == 1002);
    }

    TEST_CASE("close with a reserved or invalid code: 1002") {
        for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000}) {
            CHECK_MESSAGE(errorCode(maskedFrame(kFin | kClose, closePayload(code))) == 1002, code);
        }
    }

    TEST_CASE("close reason that is not UTF-8: 1007") {
        CHECK(errorCode(maskedFrame(kFin | kClose, closePayload(1000, "\xFF"))) == 1007);
    }

    TEST_CASE("after a protocol error further input is ignored") {
        FrameReader reader(1024);
        auto events =
            feedAll(reader, encodeFrame(Opcode::Text, "unmasked") + maskedFrame(kFin | kText, "later"));
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == Kind::ProtocolError);
        CHECK(feedAll(reader, maskedFrame(kFin | kText, "more")).empty());
    }

    TEST_CASE("after a Close further input is ignored") {
        FrameReader reader(1024);
        auto events = feedAll(reader, maskedFrame(kFin | kClose, "") + maskedFrame(kFin | kText, "late"));
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == Kind::Close);
    }

    TEST_CASE("a message over the limit is refused from its header: 1009 naming the limit") {
        FrameReader reader(100);
        std::string frame = maskedFrame(kFin | kBinary, std::string(101, 'x'));
        auto events = feedAll(reader, frame.substr(0, 8));  // header only: 2 + 2 + 4 bytes
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == Kind::ProtocolError);
        CHECK(events[0].code == 1009);
        CHECK(events[0].reason.find("100 bytes") != std::string::npos);
        CHECK(parse(maskedFrame(kFin | kBinary, std::string(100, 'x')), 100)[0].kind == Kind::Message);
    }

    TEST_CASE("a declared 2 GiB frame is refused with 1009 without buffering anything") {
        FrameReader reader(1 << 20);
        auto events = feedAll(reader, maskedHeader(kFin | kBinary, uint64_t(2) << 30));
        REQUIRE(events.size() == 1);
        CHECK(events[0].code == 1009);
        CHECK(reader.heldBytes() < 64);
    }

    TEST_CASE("buffer grows with the bytes that arrive, not with the declared length") {
        // No limit in the way: the declared 1 GiB must still not be reserved.
        FrameReader reader(std::numeric_limits<size_t>::max());
        std::vector<Event> out;
        reader.feed(maskedHeader(kFin | kBinary, uint64_t(1) << 30), out);
        CHECK(out.empty());
        CHECK(reader.heldBytes() < 64);
        reader.feed(std::string(1000, 'x'), out);
        CHECK(out.empty());
        CHECK(reader.heldBytes() >= 1000);
        CHECK(reader.heldBytes() < 4096);
    }

    TEST_CASE("fragments that together go over the limit: 1009 at the fragment that crosses it") {
        FrameReader reader(10);
        auto events = feedAll(reader, maskedFrame(kText, "123456") + maskedFrame(0x00, "7890"));
        CHECK(events.empty());  // exactly at the limit is fine
        events = feedAll(reader, maskedHeader(kFin | 0x00, 1));
        REQUIRE(events.size() == 1);
        CHECK(events[0].code == 1009);
    }

    TEST_CASE("the message buffer is released once a message is delivered") {
        FrameReader reader(1 << 20);
        auto events = feedAll(reader, maskedFrame(kFin | kBinary, std::string(50000, 'z')));
        REQUIRE(events.size() == 1);
        CHECK(reader.heldBytes() == 0);
    }
}

}  // namespace
}  // namespace partyline::net
