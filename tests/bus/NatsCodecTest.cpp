// NatsCodec: headers, Pl-Exclude, PubAck and time stamps, without a server.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "bus/NatsCodec.h"
#include "bus/NatsHandles.h"

using namespace partyline;

TEST_CASE("parseUint takes decimal digits only, the whole text") {
    CHECK(parseUint("0") == 0u);
    CHECK(parseUint("18446744073709551615") == 18446744073709551615u);
    CHECK(!parseUint(""));
    CHECK(!parseUint("12a"));
    CHECK(!parseUint("-1"));
    CHECK(!parseUint(" 1"));
    CHECK(!parseUint("18446744073709551616"));  // over uint64
}

TEST_CASE("parseTimeStamp reads JetStream's UTC stamps to unix ns") {
    CHECK(parseTimeStamp("1970-01-01T00:00:00Z") == 0);
    CHECK(parseTimeStamp("1970-01-01T00:00:01Z") == 1000000000);
    CHECK(parseTimeStamp("2026-11-23T18:53:17.198725222Z") == 1795459997198725222);
    CHECK(parseTimeStamp("2026-11-23T18:53:17.5Z") == 1795459997500000000);
    CHECK(parseTimeStamp("2026-11-23T18:53:17.1987252229Z") == 1795459997198725222);  // past ns: dropped
}

TEST_CASE("parseTimeStamp gives 0 for what it cannot read") {
    CHECK(parseTimeStamp("") == 0);
    CHECK(parseTimeStamp("yesterday") == 0);
    CHECK(parseTimeStamp("2026-11-23T18:53:17") == 0);        // no zone
    CHECK(parseTimeStamp("2026-11-23T18:53:17+01:00") == 0);  // not UTC
    CHECK(parseTimeStamp("2026-11-23 18:53:17Z") == 0);
    CHECK(parseTimeStamp("9999-12-31T23:59:59Z") == 0);  // past what int64 ns hold
    CHECK(parseTimeStamp("-999-01-01T00:00:00Z") == 0);
    CHECK(parseTimeStamp("2026-02-30T00:00:00Z") == 0);  // no such day
    CHECK(parseTimeStamp("2026-11-23T24:00:00Z") == 0);
    CHECK(parseTimeStamp("2026-11-23T18:53:17Zjunk") == 0);
    CHECK(parseTimeStamp("2026-1-23T18:53:17Z") == 0);  // JetStream writes every digit
}

TEST_CASE("parseTimeStamp agrees with the calendar on leap days and across centuries") {
    CHECK(parseTimeStamp("2024-02-29T12:00:00Z") == 1709208000LL * 1000000000);
    CHECK(parseTimeStamp("2000-03-01T00:00:00Z") == 951868800LL * 1000000000);
    CHECK(parseTimeStamp("1969-12-31T23:59:59Z") == -1000000000LL);
}

TEST_CASE("encodeExclude escapes separators, '%', spaces and control bytes") {
    CHECK(encodeExclude({}) == "");
    CHECK(encodeExclude({"a", "b"}) == "a,b");
    CHECK(encodeExclude({"a,b", "50%"}) == "a%2Cb,50%25");
    CHECK(encodeExclude({"x y", std::string("\0\x7F\n", 3)}) == "x%20y,%00%7F%0A");
    CHECK(encodeExclude({"é"}) == "é");  // bytes over 0x7F are safe in a header value
}

TEST_CASE("decodeExclude reads what encodeExclude wrote") {
    std::vector<std::vector<std::string>> lists = {{"conn-1"}, {"a", "b", "c"}, {"a,b", "50%", "x y"},
                                                   {"", "b"},  {"a", ""},       {"%41"}};
    for (const auto& ids : lists) CHECK(decodeExclude(encodeExclude(ids)) == ids);
    CHECK(decodeExclude("").empty());
    CHECK(encodeExclude({"", "b"}) == ",b");
    CHECK(decodeExclude("a%2cb") == std::vector<std::string>{"a,b"});  // lower-case hex too
}

TEST_CASE("decodeExclude keeps a '%' that starts no escape") {
    CHECK(decodeExclude("50%") == std::vector<std::string>{"50%"});
    CHECK(decodeExclude("%4") == std::vector<std::string>{"%4"});
    CHECK(decodeExclude("%zz,a") == std::vector<std::string>{"%zz", "a"});
}

TEST_CASE("decodeEntry reads the sequence, the previous sequence and partyline's headers") {
    EntryHeaders h;
    h.sequence = "7";
    h.lastSequence = "5";
    h.timeStamp = "1970-01-01T00:00:02.5Z";
    h.msgId = "node-1";
    h.binary = "1";
    h.exclude = "a,b%2Cc";
    h.published = "1234";
    auto entry = decodeEntry(h, "hello");
    REQUIRE(entry.isOk());
    CHECK(entry->seq == 7);
    CHECK(entry->prevSeq == 5);
    CHECK(entry->prevKnown);
    CHECK(entry->timeNs == 2500000000);
    CHECK(entry->msgId == "node-1");
    CHECK(entry->binary);
    CHECK(entry->exclude == std::vector<std::string>{"a", "b,c"});
    CHECK(entry->publishedNs == 1234);
    CHECK(entry->data == "hello");
}

TEST_CASE("decodeEntry needs a stream sequence and leaves unreadable headers at their defaults") {
    CHECK(decodeEntry({}, "x").status().code() == Code::Internal);
    EntryHeaders h;
    h.sequence = "seven";
    CHECK(decodeEntry(h, "x").status().code() == Code::Internal);

    h.sequence = "7";
    h.lastSequence = "?";
    h.binary = "yes";
    h.published = "-1";
    h.timeStamp = "soon";
    auto entry = decodeEntry(h, "");
    REQUIRE(entry.isOk());
    CHECK(entry->prevSeq == 0);
    CHECK(!entry->prevKnown);
    CHECK(!entry->binary);
    CHECK(entry->publishedNs == 0);
    CHECK(entry->timeNs == 0);
    CHECK(entry->exclude.empty());
    CHECK(entry->msgId.empty());
}

TEST_CASE("decodeKvChange reads a bucket's value and delete marker, with the key after the prefix") {
    auto put = decodeKvChange("$KV.B.", {"42", "$KV.B.chat.lobby.k", std::nullopt}, "v");
    REQUIRE(put.isOk());
    CHECK(put->seq == 42);
    CHECK(put->change.kind == KvChange::Kind::Put);
    CHECK(put->change.entry.key == "chat.lobby.k");
    CHECK(put->change.entry.value == "v");
    CHECK(put->change.entry.revision == 42);
    auto erased = decodeKvChange("$KV.B.", {"43", "$KV.B.chat.lobby.k", "DEL"}, "");
    REQUIRE(erased.isOk());
    CHECK(erased->change.kind == KvChange::Kind::Delete);
    CHECK(erased->change.entry.key == "chat.lobby.k");
    CHECK(decodeKvChange("$KV.B.", {"44", "$KV.B.k", "PURGE"}, "")->change.kind == KvChange::Kind::Delete);
}

TEST_CASE("decodeKvChange refuses a message without a sequence or a key of the bucket") {
    CHECK(decodeKvChange("$KV.B.", {std::nullopt, "$KV.B.k", std::nullopt}, "v").status().code() ==
          Code::Internal);
    CHECK_FALSE(decodeKvChange("$KV.B.", {"x1", "$KV.B.k", std::nullopt}, "v").isOk());
    CHECK_FALSE(decodeKvChange("$KV.B.", {"0", "$KV.B.k", std::nullopt}, "v").isOk());
    CHECK_FALSE(decodeKvChange("$KV.B.", {"1", std::nullopt, std::nullopt}, "v").isOk());
    CHECK_FALSE(decodeKvChange("$KV.B.", {"1", "$KV.B.", std::nullopt}, "v").isOk());
    CHECK_FALSE(decodeKvChange("$KV.B.", {"1", "$KV.OTHER.k", std::nullopt}, "v").isOk());
}

TEST_CASE("parsePubAck reads a stored publish and a duplicate") {
    auto ack = parsePubAck(R"({"stream":"PARTYLINE","seq":5})");
    REQUIRE(ack);
    CHECK(!ack->error);
    CHECK(ack->seq == 5);
    ack = parsePubAck(R"({"stream":"PARTYLINE", "seq": 12, "duplicate": true})");
    REQUIRE(ack);
    CHECK(ack->seq == 12);
    // A key that only looks like "seq" inside a string is not read as one.
    CHECK(!parsePubAck(R"({"stream":"\"seq\":9"})"));
}

TEST_CASE("parsePubAck reads JetStream's error, with its escapes") {
    auto ack = parsePubAck(
        R"({"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 4 \"x\"\u00e9"},"stream":"S"})");
    REQUIRE(ack);
    CHECK(ack->error);
    CHECK(ack->code == 400);
    CHECK(ack->errCode == 10071);
    CHECK(ack->description == "wrong last sequence: 4 \"x\"\xC3\xA9");
    ack = parsePubAck(R"({"error":{"code":503}})");
    REQUIRE(ack);
    CHECK(ack->code == 503);
    CHECK(ack->errCode == 0);
    CHECK(ack->description.empty());
}

TEST_CASE("parsePubAck refuses what is no PubAck") {
    CHECK(!parsePubAck(""));
    CHECK(!parsePubAck("seq 5"));
    CHECK(!parsePubAck(R"({"seq":5)"));  // not JSON
    CHECK(!parsePubAck(R"({"seq":0})"));
    CHECK(!parsePubAck(R"({"seq":-3})"));
    CHECK(!parsePubAck(R"({"seq":"5"})"));
    CHECK(!parsePubAck(R"({"stream":"S"})"));
    CHECK(!parsePubAck("[5]"));
}

TEST_CASE("readMessageGetSequence reads the stored message's sequence; no message found is 0") {
    CHECK(
        readMessageGetSequence(
            R"({"type":"io.nats.jetstream.api.v1.stream_msg_get_response","message":{"subject":"a.b","seq":42,"data":"eA==","time":"2026-12-07T05:00:00Z"}})")
            .value() == 42);
    CHECK(
        readMessageGetSequence(R"({"error":{"code":404,"err_code":10037,"description":"no message found"}})")
            .value() == 0);
}

TEST_CASE("readMessageGetSequence: any other error, or an answer without a sequence, is an error") {
    auto refused = readMessageGetSequence(
        R"({"error":{"code":503,"err_code":10008,"description":"jetstream temporarily unavailable"}})");
    REQUIRE_FALSE(refused.isOk());
    CHECK(refused.status().code() == Code::Unavailable);
    CHECK(refused.status().message().find("jetstream temporarily unavailable") != std::string::npos);
    CHECK(readMessageGetSequence(R"({"error":{"code":500}})").status().code() == Code::Unavailable);
    CHECK(readMessageGetSequence(R"({"message":{"subject":"a.b"}})").status().code() == Code::Internal);
    CHECK(readMessageGetSequence(R"({"message":{"seq":0}})").status().code() == Code::Internal);
    CHECK(readMessageGetSequence(R"({"message":{"seq":"7"}})").status().code() == Code::Internal);
    CHECK(readMessageGetSequence("not json").status().code() == Code::Internal);
    CHECK(readMessageGetSequence("").status().code() == Code::Internal);
}

TEST_CASE("readAck: a stored publish completes with its sequence") {
    AckReading r = readAck(R"({"stream":"S","seq":42})", std::nullopt);
    CHECK(r.outcome == AckOutcome::Stored);
    CHECK(r.seq == 42);
    CHECK(r.status.isOk());
}

TEST_CASE("readAck: an answer without data is the server's, and the publish is tried again") {
    AckReading r = readAck("", std::string_view("503"));
    CHECK(r.outcome == AckOutcome::Retry);
    CHECK(r.status.code() == Code::Unavailable);
    CHECK(r.status.message() == "JetStream did not answer (status 503: no responders; is the stream there?)");
    r = readAck("", std::string_view("408"));
    CHECK(r.outcome == AckOutcome::Retry);
    CHECK(r.status.message() == "JetStream did not answer (status 408)");
    r = readAck("", std::nullopt);
    CHECK(r.status.message() == "JetStream did not answer (status ?)");
}

TEST_CASE("readAck: JetStream's errors become final refusals, except 503") {
    AckReading r = readAck(
        R"({"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 3"}})", std::nullopt);
    CHECK(r.outcome == AckOutcome::Refused);
    CHECK(r.status.code() == Code::Conflict);
    CHECK(r.status.message() == "publish: wrong last sequence: 3");

    r = readAck(
        R"({"error":{"code":503,"err_code":10008,"description":"JetStream system temporarily unavailable"}})",
        std::nullopt);
    CHECK(r.outcome == AckOutcome::Retry);
    CHECK(r.status.code() == Code::Unavailable);
    CHECK(r.status.message() == "JetStream: JetStream system temporarily unavailable");

    r = readAck(
        R"({"error":{"code":400,"err_code":10054,"description":"message size exceeds maximum allowed"}})",
        std::nullopt);
    CHECK(r.outcome == AckOutcome::Refused);
    CHECK(r.status.code() == Code::TooLarge);
    CHECK(r.status.message() ==
          "JetStream refused the publish: message size exceeds maximum allowed [err_code 10054]");

    r = readAck(R"({"error":{"code":500,"err_code":10049,"description":"no"}})", std::nullopt);
    CHECK(r.outcome == AckOutcome::Refused);
    CHECK(r.status.code() == Code::Internal);
}

TEST_CASE("readAck: an unreadable answer is a final internal error") {
    AckReading r = readAck("+OK", std::nullopt);
    CHECK(r.outcome == AckOutcome::Refused);
    CHECK(r.status.code() == Code::Internal);
    CHECK(r.status.message() == "unreadable publish acknowledgement: +OK");
}

TEST_CASE("encodeHeaderBlock writes the NATS/1.0 block of the headers with a value, CR and LF as spaces") {
    CHECK(encodeHeaderBlock({{"Nats-Msg-Id", "n-1"}, {"Pl-Binary", ""}, {"Pl-Published", "17"}}) ==
          "NATS/1.0\r\nNats-Msg-Id: n-1\r\nPl-Published: 17\r\n\r\n");
    CHECK(encodeHeaderBlock({{"A", "x\r\ny"}}) == "NATS/1.0\r\nA: x  y\r\n\r\n");
    CHECK(encodeHeaderBlock({}) == "NATS/1.0\r\n\r\n");
}

TEST_CASE("a message made from a header block carries its headers and data, made either way") {
    const std::string wireHeaders = encodeHeaderBlock(
        {{kHeaderMsgId, "node-abc-7"}, {kHeaderExpectedLastSubjectSeq, "41"}, {kHeaderExclude, "c1,c%2C2"}});
    const std::string wire = wireHeaders + "payload: \r\n bytes";
    const int headerBytes = int(wireHeaders.size());
    const std::string subject = "pl.log.main.r", reply = "_INBOX.x.7";
    for (auto make : {createMessage, createMessageHeaderByHeader}) {
        natsMsg* raw = nullptr;
        REQUIRE(make(&raw, subject, reply, wire, headerBytes) == NATS_OK);
        MsgPtr msg(raw);
        CHECK(std::string(natsMsg_GetSubject(raw)) == subject);
        CHECK(std::string(natsMsg_GetReply(raw)) == reply);
        CHECK(std::string(natsMsg_GetData(raw), size_t(natsMsg_GetDataLength(raw))) == "payload: \r\n bytes");
        CHECK(headerValue(raw, kHeaderMsgId) == "node-abc-7");
        CHECK(headerValue(raw, kHeaderExpectedLastSubjectSeq) == "41");
        CHECK(headerValue(raw, kHeaderExclude) == "c1,c%2C2");
        CHECK(!headerValue(raw, kHeaderBinary));
    }
}

TEST_CASE("headerSafe replaces spaces and control bytes, and names the empty node") {
    CHECK(headerSafe("node-a") == "node-a");
    CHECK(headerSafe("a b\tc\x7F") == "a_b_c_");
    CHECK(headerSafe("") == "node");
}

TEST_CASE("validSubject: dot-separated tokens without whitespace or wildcards") {
    CHECK(validSubject("partyline.room.p.r"));
    CHECK(validSubject("a"));
    CHECK(!validSubject(""));
    CHECK(!validSubject(".a"));
    CHECK(!validSubject("a."));
    CHECK(!validSubject("a..b"));
    CHECK(!validSubject("a.*"));
    CHECK(!validSubject("a.>"));
    CHECK(!validSubject("a b"));
    CHECK(!validSubject("a\x7F"));
}
