#include <doctest/doctest.h>

#include "Payload.h"

using namespace partyline::bench;

TEST_CASE("a payload reads back as written, padded to the requested size") {
    WriteStamp stamp{3, 7, 42, 123456789};
    std::string payload = encodePayload("0badf00d", stamp, 200);
    CHECK(payload.size() == 200);
    CHECK(payload.find_first_of("\"\\") == std::string::npos);  // nothing JSON would escape
    Delivery d = parseDelivery(payload, false, "0badf00d");
    REQUIRE(d.kind == Delivery::Kind::Ours);
    CHECK(d.seq == 0);
    CHECK(d.stamp.room == 3);
    CHECK(d.stamp.writer == 7);
    CHECK(d.stamp.counter == 42);
    CHECK(d.stamp.sentNanos == 123456789);
}

TEST_CASE("a small size leaves the stamp whole") {
    std::string payload = encodePayload("0badf00d", WriteStamp{1, 2, 3, 4}, 0);
    CHECK(payload == "plb1.0badf00d.1.2.3.4.");
}

TEST_CASE("the partyline.v1 envelope gives the sequence") {
    std::string payload = encodePayload("0badf00d", WriteStamp{0, 1, 9, 5}, 64);
    std::string frame = "{\"seq\":1234,\"data\":\"" + payload + "\"}";
    Delivery d = parseDelivery(frame, true, "0badf00d");
    REQUIRE(d.kind == Delivery::Kind::Ours);
    CHECK(d.seq == 1234);
    CHECK(d.stamp.counter == 9);
}

TEST_CASE("a partyline.v1 connection's welcome frame is a welcome, not a foreign frame") {
    CHECK(parseDelivery(R"({"welcome":true,"id":"a1","resume":"s3cr3t"})", true, "0badf00d").kind ==
          Delivery::Kind::Welcome);
    // Only on an enveloped (partyline.v1) connection; elsewhere it is some other frame.
    CHECK(parseDelivery(R"({"welcome":true,"id":"a1"})", false, "0badf00d").kind == Delivery::Kind::Foreign);
}

TEST_CASE("a payload inside some other JSON is still found, without a sequence") {
    std::string payload = encodePayload("0badf00d", WriteStamp{0, 1, 9, 5}, 0);
    Delivery d = parseDelivery("{\"type\":\"chat\",\"text\":\"" + payload + "\"}", false, "0badf00d");
    CHECK(d.kind == Delivery::Kind::Ours);
    CHECK(d.seq == 0);
}

TEST_CASE("other runs, other traffic and broken stamps are foreign") {
    std::string other = encodePayload("00000001", WriteStamp{0, 1, 9, 5}, 0);
    CHECK(parseDelivery(other, false, "0badf00d").kind == Delivery::Kind::Foreign);
    CHECK(parseDelivery("{\"type\":\"join\"}", true, "0badf00d").kind == Delivery::Kind::Foreign);
    CHECK(parseDelivery("plb1.0badf00d.1.2.", false, "0badf00d").kind == Delivery::Kind::Foreign);
    CHECK(parseDelivery("plb1.0badf00d.1.x.3.4.", false, "0badf00d").kind == Delivery::Kind::Foreign);
    CHECK(parseDelivery("plb1.0badf00d.1.2.0.4.", false, "0badf00d").kind == Delivery::Kind::Foreign);
    CHECK(parseDelivery("plb1.0badf00d.99999999999.2.3.4.", false, "0badf00d").kind ==
          Delivery::Kind::Foreign);
}
