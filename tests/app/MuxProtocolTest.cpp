#include <doctest/doctest.h>

#include "app/MuxProtocol.h"
#include "core/Json.h"

using namespace partyline;

namespace {

// The error of a refused frame, checking that no command came with it.
std::string refusal(std::string_view text, bool binary = false) {
    MuxParse parsed = parseMuxCommand(text, binary);
    CHECK_FALSE(parsed.command);
    return parsed.error;
}

}  // namespace

TEST_CASE("a join with every field") {
    MuxParse parsed = parseMuxCommand(
        R"({"op":"join","ref":1,"party":"main","room":"lobby","since":42,"epoch":"E1","token":"t.k.n","query":{"name":"ann"}})");
    REQUIRE(parsed.command);
    CHECK(parsed.ref == "1");
    const MuxCommand& c = *parsed.command;
    CHECK(c.op == MuxCommand::Op::Join);
    CHECK(c.party == "main");
    CHECK(c.room == "lobby");
    CHECK(c.since == 42u);
    CHECK(c.epoch == "E1");
    CHECK(c.token == "t.k.n");
    CHECK(c.query == std::map<std::string, std::string>{{"name", "ann"}});
}

TEST_CASE("a join needs only party and room; a string ref is echoed as JSON") {
    MuxParse parsed = parseMuxCommand(R"({"op":"join","ref":"a\"b","party":"p","room":"r/with/slashes"})");
    REQUIRE(parsed.command);
    CHECK(parsed.ref == R"("a\"b")");
    CHECK(parsed.command->room == "r/with/slashes");
    CHECK_FALSE(parsed.command->since);
    CHECK(parsed.command->token.empty());
    CHECK(parseMuxCommand(R"({"op":"join","party":"p","room":"r","since":null})").command->since ==
          std::nullopt);
}

TEST_CASE("leave, send (text and binary) and refresh") {
    auto leave = parseMuxCommand(R"({"op":"leave","ref":2,"room":"main/lobby"})");
    REQUIRE(leave.command);
    CHECK(leave.command->op == MuxCommand::Op::Leave);
    CHECK(leave.command->room == "main/lobby");

    auto text = parseMuxCommand(R"({"op":"send","room":"main/lobby","data":"hi"})");
    REQUIRE(text.command);
    CHECK(text.command->op == MuxCommand::Op::Send);
    CHECK(text.command->data == "hi");
    CHECK_FALSE(text.command->binary);
    CHECK(text.ref.empty());

    auto binary = parseMuxCommand(R"({"op":"send","room":"main/lobby","binary":true,"data":"AAH/"})");
    REQUIRE(binary.command);
    CHECK(binary.command->binary);
    CHECK(binary.command->data == std::string("\x00\x01\xff", 3));

    auto refresh = parseMuxCommand(R"({"op":"refresh","ref":3,"token":"new"})");
    REQUIRE(refresh.command);
    CHECK(refresh.command->op == MuxCommand::Op::Refresh);
    CHECK(refresh.command->token == "new");
}

TEST_CASE("malformed frames are refused with what is wrong") {
    CHECK(refusal("{").find("malformed JSON: ") == 0);
    CHECK(refusal("not json").find("malformed JSON: ") == 0);
    CHECK(refusal("[1,2]") == "a frame must be a JSON object");
    CHECK(refusal("\"join\"") == "a frame must be a JSON object");
    CHECK(refusal(R"({"op":"join"})", true) ==
          "binary frames are not part of partyline.mux.v1: send JSON text");
}

TEST_CASE("a missing or unknown op") {
    CHECK(refusal(R"({"ref":1})") == "missing \"op\" (join, leave, send or refresh)");
    CHECK(refusal(R"({"op":7})") == "missing \"op\" (join, leave, send or refresh)");
    MuxParse unknown = parseMuxCommand(R"({"op":"dance","ref":9})");
    CHECK_FALSE(unknown.command);
    CHECK(unknown.ref == "9");  // the error frame names the request
    CHECK(unknown.error == "unknown op \"dance\": expected join, leave, send or refresh");
}

TEST_CASE("a ref that is neither an integer nor a short string") {
    const std::string expected = "\"ref\" must be an integer or a string of at most 64 bytes";
    CHECK(refusal(R"({"op":"leave","ref":1.5,"room":"a/b"})") == expected);
    CHECK(refusal(R"({"op":"leave","ref":{},"room":"a/b"})") == expected);
    CHECK(refusal(R"({"op":"leave","ref":")" + std::string(65, 'x') + R"(","room":"a/b"})") == expected);
}

TEST_CASE("missing and mistyped fields, each named") {
    CHECK(refusal(R"({"op":"join","room":"r"})") == "missing \"party\" (a string)");
    CHECK(refusal(R"({"op":"join","party":"p"})") == "missing \"room\" (a string)");
    CHECK(refusal(R"({"op":"join","party":"","room":"r"})") == "\"party\" must be a non-empty string");
    CHECK(refusal(R"({"op":"join","party":"p","room":3})") == "\"room\" must be a non-empty string");
    CHECK(refusal(R"({"op":"join","party":"p","room":"r","token":5})") ==
          "\"token\" must be a non-empty string");
    CHECK(refusal(R"({"op":"join","party":"p","room":"r","epoch":""})") ==
          "\"epoch\" must be a non-empty string");
    CHECK(refusal(R"({"op":"join","party":"p","room":"r","since":-1})") ==
          "\"since\" must be a sequence number (an integer, 0 or more)");
    CHECK(refusal(R"({"op":"join","party":"p","room":"r","since":"4"})") ==
          "\"since\" must be a sequence number (an integer, 0 or more)");
    CHECK(refusal(R"({"op":"join","party":"p","room":"r","query":[]})") ==
          "\"query\" must be an object of strings");
    CHECK(refusal(R"({"op":"join","party":"p","room":"r","query":{"n":1}})") ==
          "\"query\" field \"n\" must be a string");
    CHECK(refusal(R"({"op":"leave"})") == "missing \"room\" (a string)");
    CHECK(refusal(R"({"op":"send","room":"a/b"})") == "missing \"data\" (a string)");
    CHECK(refusal(R"({"op":"send","data":"x"})") == "missing \"room\" (a string)");
    CHECK(refusal(R"({"op":"send","room":"a/b","data":"x","binary":1})") ==
          "\"binary\" must be true or false");
    CHECK(refusal(R"({"op":"send","room":"a/b","data":"not base64!","binary":true})") ==
          "\"data\" of a binary send must be base64");
    CHECK(refusal(R"({"op":"refresh"})") == "missing \"token\" (a string)");
}

TEST_CASE("room names split at the first slash") {
    std::string party, room;
    CHECK(splitRoomName("main/lobby", party, room));
    CHECK(party == "main");
    CHECK(room == "lobby");
    CHECK(splitRoomName("main/a/b", party, room));
    CHECK(room == "a/b");
    for (const char* bad : {"main", "/lobby", "main/", ""}) {
        CAPTURE(bad);
        CHECK_FALSE(splitRoomName(bad, party, room));
    }
}

TEST_CASE("the node's frames are JSON, with the ref only when there is one") {
    CHECK(muxJoined("1", "main/lobby", "c1") == R"({"op":"joined","ref":1,"room":"main/lobby","id":"c1"})");
    CHECK(muxJoined("", "main/lobby", "c1") == R"({"op":"joined","room":"main/lobby","id":"c1"})");
    CHECK(muxJoined("2", "a/b", "c", "E1") ==
          R"({"op":"joined","ref":2,"room":"a/b","id":"c","epoch":"E1"})");
    CHECK(muxLeft("\"x\"", "a/b") == R"({"op":"left","ref":"x","room":"a/b"})");
    CHECK(muxRefreshed("3", 2) == R"({"op":"refreshed","ref":3,"rooms":2})");
    CHECK(muxError("1", 403, "no \"way\"", "a/b") ==
          R"({"op":"error","ref":1,"room":"a/b","status":403,"error":"no \"way\""})");
    CHECK(muxError("", 400, "bad") == R"({"op":"error","status":400,"error":"bad"})");
    CHECK(muxClosed("a/b", 4001, "token expired") ==
          R"({"op":"closed","room":"a/b","code":4001,"reason":"token expired"})");
    CHECK(muxMessage("a/b", "hi", false) == R"({"room":"a/b","data":"hi"})");
    CHECK(muxMessage("a/b", std::string("\x00\x01\xff", 3), true) ==
          R"({"room":"a/b","binary":true,"data":"AAH/"})");
    for (const auto& frame :
         {muxJoined("1", "a/b", "c"), muxError("", 400, "\xff bad utf-8"), muxMessage("a/b", "\x01", false)})
        CHECK(parseJson(frame).isOk());
}
