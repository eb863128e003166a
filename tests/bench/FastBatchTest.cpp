#include <doctest/doctest.h>

#include "floor/FastBatch.h"

using partyline::bench::FastBatchAnswer;
using partyline::bench::FastBatchFlow;
using partyline::bench::FastBatchOp;
using partyline::bench::fastBatchOp;
using partyline::bench::fastBatchReply;
using partyline::bench::parseFastBatchAnswer;
using Kind = FastBatchAnswer::Kind;

TEST_CASE("the first message starts a batch, the last commits, a batch of one commits at once") {
    CHECK(fastBatchOp(1, 3) == FastBatchOp::Start);
    CHECK(fastBatchOp(2, 3) == FastBatchOp::Append);
    CHECK(fastBatchOp(3, 3) == FastBatchOp::Commit);
    CHECK(fastBatchOp(1, 1) == FastBatchOp::Commit);
}

TEST_CASE("the reply subject carries id, max flow, gap mode fail, sequence and operation") {
    CHECK(fastBatchReply("_FLOOR1.w0", "b-7", 100, 1, FastBatchOp::Start) ==
          "_FLOOR1.w0.b-7.100.fail.1.0.$FI");
    CHECK(fastBatchReply("_I", "x", 10, 42, FastBatchOp::Append) == "_I.x.10.fail.42.1.$FI");
    CHECK(fastBatchReply("_I", "x", 10, 43, FastBatchOp::Commit) == "_I.x.10.fail.43.2.$FI");
}

TEST_CASE("answers: flow acknowledgement, gap, error, commit, a plain PubAck, refusal") {
    auto ack = parseFastBatchAnswer(R"({"type":"ack","seq":10,"msgs":15})");
    CHECK(ack.kind == Kind::FlowAck);
    CHECK(ack.seq == 10);
    CHECK(ack.messages == 15);

    auto gap = parseFastBatchAnswer(R"({"type":"gap","last_seq":10,"seq":15})");
    CHECK(gap.kind == Kind::Gap);
    CHECK(gap.seq == 15);

    auto err = parseFastBatchAnswer(
        R"({"type":"err","seq":10,"error":{"code":400,"err_code":10071,"description":"wrong last sequence: 1"}})");
    CHECK(err.kind == Kind::FlowError);
    CHECK(err.seq == 10);
    CHECK(err.errCode == 10071);
    CHECK(err.description == "wrong last sequence: 1");

    auto commit = parseFastBatchAnswer(R"({"stream":"S","seq":1234,"batch":"b-7","count":100})");
    CHECK(commit.kind == Kind::Committed);
    CHECK(commit.streamSeq == 1234);
    CHECK(commit.count == 100);

    auto single = parseFastBatchAnswer(R"({"stream":"S","seq":9})");
    CHECK(single.kind == Kind::Committed);
    CHECK(single.count == 1);

    auto refused = parseFastBatchAnswer(
        R"({"error":{"code":400,"err_code":10205,"description":"batch publish not enabled on stream"},"stream":"S","seq":0})");
    CHECK(refused.kind == Kind::Refused);
    CHECK(refused.errCode == 10205);
    CHECK(refused.description == "batch publish not enabled on stream");
}

TEST_CASE("what is not an answer is unreadable") {
    CHECK(parseFastBatchAnswer("").kind == Kind::Unreadable);
    CHECK(parseFastBatchAnswer("[1]").kind == Kind::Unreadable);
    CHECK(parseFastBatchAnswer(R"({"type":"other","seq":1})").kind == Kind::Unreadable);
    CHECK(parseFastBatchAnswer(R"({"stream":"S","seq":0})").kind == Kind::Unreadable);
}

TEST_CASE("after the first message the batch waits for the server's first answer") {
    FastBatchFlow flow(100, 2);
    REQUIRE(flow.maySend());
    CHECK(flow.next() == 1);
    flow.sent();
    CHECK_FALSE(flow.maySend());
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":0,"msgs":10})"));
    CHECK(flow.maySend());
    CHECK(flow.ackEvery() == 10);
}

TEST_CASE("at most `outstanding` acknowledgements' worth of messages go unacknowledged") {
    FastBatchFlow flow(100, 2);
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":0,"msgs":10})"));
    int sent = 1;
    for (; sent < 100 && flow.maySend(); ++sent) flow.sent();
    CHECK(sent == 20);
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":10,"msgs":10})"));
    for (; sent < 100 && flow.maySend(); ++sent) flow.sent();
    CHECK(sent == 30);
}

TEST_CASE("a later acknowledgement covers a lost one, and an older one changes nothing") {
    FastBatchFlow flow(100, 1);
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":0,"msgs":5})"));
    for (int i = 0; i < 4; ++i) flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":20,"msgs":5})"));
    CHECK(flow.acknowledged() == 20);
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":10,"msgs":5})"));
    CHECK(flow.acknowledged() == 20);
}

TEST_CASE("the server slowing the flow down narrows the window") {
    FastBatchFlow flow(100, 1);
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":0,"msgs":8})"));
    for (int i = 0; i < 7; ++i) flow.sent();
    CHECK_FALSE(flow.maySend());
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":8,"msgs":1})"));
    REQUIRE(flow.maySend());
    flow.sent();
    CHECK_FALSE(flow.maySend());  // one message at a time now
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":9,"msgs":1})"));
    CHECK(flow.maySend());
}

TEST_CASE("nothing goes past the last message, and the commit ends the batch") {
    FastBatchFlow flow(2, 4);
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":0,"msgs":10})"));
    REQUIRE(flow.maySend());
    flow.sent();
    CHECK_FALSE(flow.maySend());
    CHECK_FALSE(flow.over());
    flow.take(parseFastBatchAnswer(R"({"stream":"S","seq":77,"batch":"b","count":2})"));
    CHECK(flow.over());
    CHECK(flow.stored() == 2);
    CHECK(flow.lastStreamSeq() == 77);
}

TEST_CASE("a gap or an error stops sending, and the PubAck still ends the batch") {
    FastBatchFlow flow(100, 2);
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":0,"msgs":10})"));
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"gap","last_seq":2,"seq":3})"));
    CHECK(flow.stopped());
    CHECK_FALSE(flow.maySend());
    CHECK_FALSE(flow.over());
    flow.take(parseFastBatchAnswer(R"({"stream":"S","seq":5,"batch":"b","count":1})"));
    CHECK(flow.over());
    CHECK(flow.stored() == 1);

    FastBatchFlow refused(100, 2);
    refused.sent();
    refused.take(parseFastBatchAnswer(
        R"({"error":{"code":400,"err_code":10205,"description":"batch publish not enabled on stream"}})"));
    CHECK(refused.over());
    CHECK_FALSE(refused.maySend());
    CHECK(refused.error() == "batch publish not enabled on stream (err_code 10205)");
}

TEST_CASE("a batch the server no longer knows is forgotten: only its acknowledged writes are known stored") {
    FastBatchFlow flow(3, 2);
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":0,"msgs":1})"));
    flow.sent();
    flow.sent();
    flow.take(parseFastBatchAnswer(R"({"type":"ack","seq":1,"msgs":1})"));
    flow.take(parseFastBatchAnswer(
        R"({"error":{"code":400,"err_code":10208,"description":"batch publish ID unknown"}})"));
    CHECK(flow.over());
    CHECK(flow.forgotten());
    CHECK(flow.acknowledged() == 1);

    FastBatchFlow refused(3, 2);
    refused.sent();
    refused.take(
        parseFastBatchAnswer(R"({"error":{"code":400,"err_code":10205,"description":"not enabled"}})"));
    CHECK_FALSE(refused.forgotten());
}
