#include <doctest/doctest.h>

#include <vector>

#include "ClientFrames.h"

using namespace partyline::bench;
namespace net = partyline::net;

namespace {

struct Recorder : FrameSink {
    std::vector<std::string> messages, pings, errors;
    std::vector<uint16_t> closes;
    void onMessage(bool binary, std::string_view payload) override {
        messages.push_back((binary ? "b:" : "t:") + std::string(payload));
    }
    void onPing(std::string_view payload) override { pings.emplace_back(payload); }
    void onClose(uint16_t code) override { closes.push_back(code); }
    void onProtocolError(std::string_view why) override { errors.emplace_back(why); }
};

}  // namespace

TEST_CASE("client frames are masked and the server's parser reads them back") {
    for (size_t size : {0, 5, 125, 126, 65535, 65536, 200000}) {
        std::string payload(size, 'a');
        for (size_t i = 0; i < size; ++i) payload[i] = char('a' + i % 26);
        std::string wire;
        appendClientFrame(wire, Opcode::Text, payload, 0x12345678);
        CHECK((uint8_t(wire[1]) & 0x80) != 0);  // the mask bit
        net::FrameReader reader(1 << 20);
        std::vector<net::FrameReader::Event> events;
        reader.feed(wire, events);
        REQUIRE(events.size() == 1);
        CHECK(events[0].kind == net::FrameReader::Event::Kind::Message);
        CHECK(events[0].payload == payload);
    }
}

TEST_CASE("a client Close carries its code") {
    std::string wire;
    appendClientClose(wire, 1000, 0xCAFEBABE);
    net::FrameReader reader(1024);
    std::vector<net::FrameReader::Event> events;
    reader.feed(wire, events);
    REQUIRE(events.size() == 1);
    CHECK(events[0].kind == net::FrameReader::Event::Kind::Close);
    CHECK(events[0].code == 1000);
}

TEST_CASE("server frames are read whole even when they arrive a byte at a time") {
    std::string wire =
        net::encodeFrame(net::Opcode::Text, "hello") + net::encodeFrame(net::Opcode::Ping, "p") +
        net::encodeFrame(net::Opcode::Binary, std::string(70000, 'x')) + net::encodeCloseFrame(1001, "bye");
    ServerFrameReader reader(1 << 20);
    Recorder recorder;
    for (char c : wire) reader.feed(std::string_view(&c, 1), recorder);
    REQUIRE(recorder.messages.size() == 2);
    CHECK(recorder.messages[0] == "t:hello");
    CHECK(recorder.messages[1] == "b:" + std::string(70000, 'x'));
    CHECK(recorder.pings == std::vector<std::string>{"p"});
    CHECK(recorder.closes == std::vector<uint16_t>{1001});
    CHECK(recorder.errors.empty());
}

TEST_CASE("fragments are joined into one message") {
    // Text "hel" (not final), then continuation "lo" (final).
    std::string wire = std::string("\x01\x03hel", 5) + std::string("\x80\x02lo", 4);
    ServerFrameReader reader(1024);
    Recorder recorder;
    reader.feed(wire, recorder);
    CHECK(recorder.messages == std::vector<std::string>{"t:hello"});
}

TEST_CASE("a frame over the limit is an error, decided from its header") {
    std::string header = net::encodeFrame(net::Opcode::Text, std::string(2000, 'x')).substr(0, 4);
    ServerFrameReader reader(1000);
    Recorder recorder;
    reader.feed(header, recorder);
    CHECK(recorder.errors.size() == 1);
    CHECK(recorder.messages.empty());
}
