#include <doctest/doctest.h>

#include <vector>

#include "bus/Subject.h"

using namespace partyline;

namespace {

std::string roundTrip(const std::string& id) {
    auto token = encodeSubjectToken(id);
    REQUIRE(token.isOk());
    auto back = decodeSubjectToken(token.value());
    REQUIRE(back.isOk());
    return back.value();
}

bool isSubjectSafe(const std::string& token) {
    for (unsigned char c : token) {
        if (c == '.' || c == '*' || c == '>' || c <= 0x20 || c >= 0x7F) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("letters, digits, '-' and '_' pass through unchanged") {
    auto token = encodeSubjectToken("Lobby-42_b");
    REQUIRE(token.isOk());
    CHECK(token.value() == "Lobby-42_b");
}

TEST_CASE("subject metacharacters and whitespace are escaped as '=' and two upper-case hex digits") {
    CHECK(encodeSubjectToken("a.b").value() == "a=2Eb");
    CHECK(encodeSubjectToken("a b").value() == "a=20b");
    CHECK(encodeSubjectToken("*").value() == "=2A");
    CHECK(encodeSubjectToken(">").value() == "=3E");
    CHECK(encodeSubjectToken("\t\n").value() == "=09=0A");
    CHECK(encodeSubjectToken("=").value() == "=3D");
}

TEST_CASE("every id round-trips and its token is a valid subject token") {
    const std::vector<std::string> ids = {"lobby",
                                          "a.b.c",
                                          "room with spaces",
                                          "*",
                                          ">",
                                          "a*b>c",
                                          "=",
                                          "==3D",
                                          "caf\xC3\xA9",
                                          "\xF0\x9F\x8E\x89 party",
                                          std::string("nul\0byte", 8),
                                          "%2E"};
    for (const std::string& id : ids) {
        CAPTURE(id);
        CHECK(roundTrip(id) == id);
        CHECK(isSubjectSafe(encodeSubjectToken(id).value()));
    }
}

TEST_CASE("distinct ids never share a token") {
    CHECK(encodeSubjectToken("a.b").value() != encodeSubjectToken("a=2Eb").value());
    CHECK(encodeSubjectToken("=").value() != encodeSubjectToken("=3D").value());
}

TEST_CASE("unicode is escaped byte by byte") {
    CHECK(encodeSubjectToken("\xC3\xA9").value() == "=C3=A9");
}

TEST_CASE("an empty id is refused") {
    auto token = encodeSubjectToken("");
    REQUIRE_FALSE(token.isOk());
    CHECK(token.status().code() == Code::InvalidArgument);
}

TEST_CASE("ids up to 256 bytes are accepted, longer ones refused") {
    CHECK(encodeSubjectToken(std::string(256, 'x')).isOk());
    CHECK(roundTrip(std::string(256, '.')) == std::string(256, '.'));
    auto tooLong = encodeSubjectToken(std::string(257, 'x'));
    REQUIRE_FALSE(tooLong.isOk());
    CHECK(tooLong.status().code() == Code::InvalidArgument);
}

TEST_CASE("malformed tokens are refused when decoding") {
    for (const char* token : {"", "=", "=2", "=2e", "=ZZ", "a.b", "=41" /* 'A' must not be escaped */}) {
        CAPTURE(token);
        auto id = decodeSubjectToken(token);
        REQUIRE_FALSE(id.isOk());
        CHECK(id.status().code() == Code::InvalidArgument);
    }
}

TEST_CASE("log and live subjects") {
    CHECK(roomSubjects("partyline", "chat", "lobby").log == "partyline.room.chat.lobby");
    CHECK(roomSubjects("partyline", "chat", "lobby").live == "partyline.live.chat.lobby");
}

TEST_CASE("a room's presence subject and key prefix") {
    RoomSubjects subjects = roomSubjects("partyline", "chat", "lobby");
    CHECK(subjects.presence == "partyline.presence.chat.lobby");
    CHECK(subjects.keyPrefix == "chat.lobby");
}

TEST_CASE("a prefix of several tokens is kept whole") {
    RoomSubjects subjects = roomSubjects("acme.eu", "chat", "lobby");
    CHECK(subjects.log == "acme.eu.room.chat.lobby");
    CHECK(subjects.live == "acme.eu.live.chat.lobby");
    CHECK(subjects.presence == "acme.eu.presence.chat.lobby");
    CHECK(subjects.keyPrefix == "chat.lobby");
}

TEST_CASE("the stream stores every log subject and republishes to every live subject") {
    CHECK(logSubjects("partyline") == "partyline.room.>");
    CHECK(liveSubjects("partyline") == "partyline.live.>");
    CHECK(bucketChangesSubject("partyline", "PARTYLINE_ALARMS") == "partyline.kv.PARTYLINE_ALARMS");
}

TEST_CASE("a log subject is one under the prefix's room token, with something after it") {
    CHECK(isLogSubject("partyline", "partyline.room.chat.lobby"));
    CHECK(isLogSubject("partyline", "partyline.room.x"));
    for (const char* other :
         {"partyline.room.", "partyline.room", "partyline.live.chat.lobby", "partyline.presence.chat.lobby",
          "partylinex.room.chat.lobby", "other.room.chat.lobby", "partyline.roomy.chat.lobby", ""}) {
        CAPTURE(other);
        CHECK_FALSE(isLogSubject("partyline", other));
    }
}

TEST_CASE("a log subject's live subject is the room's") {
    RoomSubjects subjects = roomSubjects("partyline", "chat", "lobby");
    CHECK(liveSubjectOf("partyline", subjects.log) == subjects.live);
    CHECK(liveSubjectOf("acme.eu", "acme.eu.room.a.b") == "acme.eu.live.a.b");
}

TEST_CASE("with several partitions the log and live subjects carry the partition; presence and keys do not") {
    RoomSubjects subjects = roomSubjects("partyline", "chat", "lobby", 2, 3);
    CHECK(subjects.log == "partyline.room.2.chat.lobby");
    CHECK(subjects.live == "partyline.live.2.chat.lobby");
    CHECK(subjects.presence == "partyline.presence.chat.lobby");
    CHECK(subjects.keyPrefix == "chat.lobby");
    CHECK(liveSubjectOf("partyline", subjects.log) == subjects.live);
    CHECK(isLogSubject("partyline", subjects.log));
}

TEST_CASE("one partition keeps the subjects of a deployment without partitions") {
    RoomSubjects subjects = roomSubjects("partyline", "chat", "lobby", 0, 1);
    CHECK(subjects.log == "partyline.room.chat.lobby");
    CHECK(subjects.live == "partyline.live.chat.lobby");
    CHECK(logSubjects("partyline", 0, 1) == "partyline.room.>");
    CHECK(liveSubjects("partyline", 0, 1) == "partyline.live.>");
}

TEST_CASE("each partition's stream stores and republishes disjoint subjects") {
    CHECK(logSubjects("partyline", 0, 3) == "partyline.room.0.>");
    CHECK(liveSubjects("partyline", 0, 3) == "partyline.live.0.>");
    CHECK(logSubjects("acme.eu", 12, 64) == "acme.eu.room.12.>");
    CHECK(liveSubjects("acme.eu", 12, 64) == "acme.eu.live.12.>");
}

TEST_CASE("a log subject gives back its partition") {
    CHECK(partitionOfLogSubject("partyline", "partyline.room.chat.lobby", 1).value() == 0);
    CHECK(partitionOfLogSubject("partyline", "partyline.room.0.chat.lobby", 3).value() == 0);
    CHECK(partitionOfLogSubject("partyline", "partyline.room.2.chat.lobby", 3).value() == 2);
    CHECK(partitionOfLogSubject("acme.eu", "acme.eu.room.63.a.b", 64).value() == 63);
    for (const char* bad : {"partyline.room.3.chat.lobby", "partyline.room.chat.lobby",
                            "partyline.room.02.a.b", "partyline.room.-1.a.b", "partyline.room.1",
                            "partyline.room.1.", "partyline.room.", "partyline.live.1.a.b"}) {
        CAPTURE(bad);
        auto refused = partitionOfLogSubject("partyline", bad, 3);
        REQUIRE_FALSE(refused.isOk());
        CHECK(refused.status().code() == Code::InvalidArgument);
    }
}

TEST_CASE("a key prefix gives back the party and the room id") {
    auto party = encodeSubjectToken("the party");
    auto room = encodeSubjectToken("room/1.2");
    REQUIRE(party.isOk());
    REQUIRE(room.isOk());
    auto back = roomOfKeyPrefix(roomSubjects("partyline", party.value(), room.value()).keyPrefix);
    REQUIRE(back.isOk());
    CHECK(back.value().first == "the party");
    CHECK(back.value().second == "room/1.2");
    for (const char* bad : {"", "chat", "chat.", ".lobby", "chat.lob.by", "chat.=ZZ"}) {
        CAPTURE(bad);
        auto refused = roomOfKeyPrefix(bad);
        REQUIRE_FALSE(refused.isOk());
        CHECK(refused.status().code() == Code::InvalidArgument);
    }
}
