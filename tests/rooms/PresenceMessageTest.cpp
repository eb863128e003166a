// The presence wire messages: each kind encodes and decodes back, a long list is split into
// parts under the byte budget, and what is not a presence message is refused.
#include <doctest/doctest.h>

#include "rooms/PresenceMessage.h"

namespace partyline {

TEST_CASE("presence messages decode to what was encoded") {
    PresenceMessage ask;
    ask.kind = PresenceMessage::Kind::Ask;
    ask.node = "node-a";
    ask.of = "node-b";
    auto a = decodePresence(encodePresence(ask));
    REQUIRE(a);
    CHECK(a->kind == PresenceMessage::Kind::Ask);
    CHECK(a->node == "node-a");
    CHECK(a->of == "node-b");

    PresenceMessage diff;
    diff.kind = PresenceMessage::Kind::Diff;
    diff.node = "node-a";
    diff.epoch = "e1";
    diff.base = 4;
    diff.version = 5;
    diff.count = 2;
    diff.set = {{"x", R"({"name":"Ann \"A\""})"}, {"y", ""}};
    diff.gone = {"z"};
    auto d = decodePresence(encodePresence(diff));
    REQUIRE(d);
    CHECK(d->kind == PresenceMessage::Kind::Diff);
    CHECK(d->epoch == "e1");
    CHECK(d->base == 4);
    CHECK(d->version == 5);
    CHECK(d->count == 2);
    CHECK(d->set == diff.set);
    CHECK(d->gone == diff.gone);
}

TEST_CASE("a count announcement is its header only and decodes to its count") {
    PresenceMessage count;
    count.kind = PresenceMessage::Kind::Count;
    count.node = "node-a";
    count.epoch = "0123456789abcdef0123456789abcdef";
    count.version = 12345;
    count.count = 1000000;
    std::string text = encodePresence(count);
    CHECK(text.size() < 200);
    auto c = decodePresence(text);
    REQUIRE(c);
    CHECK(c->kind == PresenceMessage::Kind::Count);
    CHECK(c->node == "node-a");
    CHECK(c->version == 12345);
    CHECK(c->count == 1000000);
    CHECK(c->set.empty());
}

TEST_CASE("a full list goes out in parts of at most the byte budget, each with the count") {
    std::map<std::string, std::string> entries;
    for (int i = 0; i < 500; ++i)
        entries["conn-" + std::to_string(i)] = R"({"name":")" + std::string(100, 'n') + R"("})";
    auto parts = encodeFullList("node-a", "e1", 7, entries, 8 * 1024);
    REQUIRE(parts.size() > 1);
    std::map<std::string, std::string> back;
    for (size_t i = 0; i < parts.size(); ++i) {
        CHECK(parts[i].size() <= 8 * 1024);
        auto m = decodePresence(parts[i]);
        REQUIRE(m);
        CHECK(m->kind == PresenceMessage::Kind::Full);
        CHECK(m->part == i);
        CHECK(m->parts == parts.size());
        CHECK(m->count == 500);
        CHECK(m->version == 7);
        for (auto& item : m->set) back[item.id] = item.info;
    }
    CHECK(back == entries);

    auto empty = encodeFullList("node-a", "e1", 8, {});
    REQUIRE(empty.size() == 1);
    auto m = decodePresence(empty[0]);
    REQUIRE(m);
    CHECK(m->count == 0);
    CHECK(m->set.empty());
}

TEST_CASE("what is not a presence message is refused with the reason") {
    for (const char* text :
         {"", "3", "{}", "? node-a", R"({"ask":1})", R"({"full":true,"node":"a"})",
          R"({"full":true,"node":"a","epoch":"e","version":1,"count":1,"part":1,"parts":1})",
          R"({"diff":true,"node":"a","epoch":"e","version":1,"count":1})",
          R"({"diff":true,"node":"a","epoch":"e","version":2,"base":1,"count":1,"set":[{"info":"1"}]})",
          R"({"diff":true,"node":"a","epoch":"e","version":2,"base":1,"count":-1})"}) {
        auto m = decodePresence(text);
        CHECK_MESSAGE(!m, text);
        if (!m) CHECK(m.status().message().find("presence message") != std::string::npos);
    }
}

}  // namespace partyline
