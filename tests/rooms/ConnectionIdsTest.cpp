// ConnectionIds: the rules for an id in use (decideId), and the table that applies them.
#include <doctest/doctest.h>

#include <set>

#include "rooms/ConnectionIds.h"

namespace partyline {

TEST_SUITE("rooms.ConnectionIds") {
    const IdHolder kAlice{"alice", "secret-a"};
    const IdHolder kAnonymous{"", "secret-x"};

    TEST_CASE("a free id, or none asked for, is granted") {
        CHECK(decideId({"p1", "", "", false}, nullptr) == IdOutcome::Granted);
        CHECK(decideId({"p1", "bob", "", true}, nullptr) == IdOutcome::Granted);
        CHECK(decideId({"", "", "", false}, &kAnonymous) == IdOutcome::Granted);
    }

    TEST_CASE("without auth, an id in use goes only to the holder's resume secret") {
        CHECK(decideId({"p1", "", "secret-x", false}, &kAnonymous) == IdOutcome::Resumed);
        CHECK(decideId({"p1", "", "", false}, &kAnonymous) == IdOutcome::Fresh);
        CHECK(decideId({"p1", "", "secret-y", false}, &kAnonymous) == IdOutcome::Fresh);
        CHECK(decideId({"p1", "", "secret-", false}, &kAnonymous) == IdOutcome::Fresh);
    }

    TEST_CASE("with auth, the same sub replaces the holder and another sub is refused") {
        CHECK(decideId({"p1", "alice", "", true}, &kAlice) == IdOutcome::Replaced);
        CHECK(decideId({"p1", "mallory", "", true}, &kAlice) == IdOutcome::Refused);
        CHECK(decideId({"p1", "mallory", "", true}, &kAnonymous) == IdOutcome::Refused);
        // The secret proves the same client whatever the token says.
        CHECK(decideId({"p1", "alice", "secret-a", true}, &kAlice) == IdOutcome::Resumed);
    }

    TEST_CASE("with auth, an anonymous client (auth not required) follows the rules without auth") {
        CHECK(decideId({"p1", "", "", true}, &kAlice) == IdOutcome::Fresh);
        CHECK(decideId({"p1", "", "secret-a", true}, &kAlice) == IdOutcome::Resumed);
    }

    TEST_CASE("the table: a second client asking for a held id gets another, the holder keeps it") {
        ConnectionIds ids;
        auto first = ids.claim({"p1", "", "", false});
        CHECK(first.outcome == IdOutcome::Granted);
        CHECK(first.id == "p1");
        CHECK(first.resume.size() == 32);
        auto second = ids.claim({"p1", "", "", false});
        CHECK(second.outcome == IdOutcome::Fresh);
        CHECK(second.id != "p1");
        CHECK(second.id.size() == 32);
        CHECK(second.resume != first.resume);
        CHECK(ids.size() == 2);
        // The first one's secret takes the id back, and gets a new secret.
        auto back = ids.claim({"p1", "", first.resume, false});
        CHECK(back.outcome == IdOutcome::Resumed);
        CHECK(back.id == "p1");
        CHECK(back.resume != first.resume);
        // The replaced holder's release does not free the id its successor holds.
        ids.release("p1", first.ticket);
        CHECK(ids.claim({"p1", "", "", false}).outcome == IdOutcome::Fresh);
        ids.release("p1", back.ticket);
        CHECK(ids.claim({"p1", "", "", false}).outcome == IdOutcome::Granted);
    }

    TEST_CASE("the table: another identity is refused and holds nothing") {
        ConnectionIds ids;
        auto alice = ids.claim({"p1", "alice", "", true});
        auto mallory = ids.claim({"p1", "mallory", "", true});
        CHECK(mallory.outcome == IdOutcome::Refused);
        CHECK(mallory.id.empty());
        CHECK(ids.size() == 1);
        auto again = ids.claim({"p1", "alice", "", true});
        CHECK(again.outcome == IdOutcome::Replaced);
        CHECK(again.id == "p1");
        ids.release("p1", alice.ticket);  // the replaced one leaving
        CHECK(ids.claim({"p1", "mallory", "", true}).outcome == IdOutcome::Refused);
    }

    TEST_CASE("ids the node chooses are distinct") {
        ConnectionIds ids;
        std::set<std::string> seen;
        for (int i = 0; i < 200; ++i) seen.insert(ids.claim({"", "", "", false}).id);
        CHECK(seen.size() == 200);
    }
}

}  // namespace partyline
