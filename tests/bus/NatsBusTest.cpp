// NatsBus against a real nats-server: each test starts its own on a free
// port, in a fresh temporary directory, and stops it at the end.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <map>
#include <set>
#include <thread>

#include "BusTestSupport.h"
#include "bus/EmbeddedNats.h"
#include "bus/KeyValue.h"
#include "bus/NatsBus.h"
#include "bus/NatsHandles.h"
#include "bus/Partition.h"
#include "bus/Subject.h"

using namespace partyline;
using namespace std::chrono_literals;
using partyline::testing::Collector;
using partyline::testing::eventually;
using partyline::testing::TempDir;

namespace {

const std::string kRoomA = "partyline.room.chat.a";
const std::string kRoomB = "partyline.room.chat.b";

struct NatsFixture {
    TempDir dir;
    std::unique_ptr<EmbeddedNats> server;
    std::unique_ptr<NatsBus> bus;

    explicit NatsFixture(NatsConfig cfg = {}) {
        REQUIRE_FALSE(dir.path().empty());
        auto started = EmbeddedNats::start(dir.path() + "/nats");
        REQUIRE_MESSAGE(started.isOk(), started.status().toString());
        server = std::move(started.value());
        auto connected = NatsBus::connect(cfg, server->url(), "test-node");
        REQUIRE_MESSAGE(connected.isOk(), connected.status().toString());
        bus = std::move(connected.value());
    }
    ~NatsFixture() {
        bus.reset();  // before the server, so the bus closes cleanly
        server.reset();
    }
};

Result<uint64_t> publishAndWait(Bus& bus, const std::string& subject, std::string data,
                                PublishOptions options = {}) {
    Collector<Result<uint64_t>> acks;
    bus.publish(subject, std::move(data), std::move(options),
                [&](Result<uint64_t> r) { acks.add(std::move(r)); });
    REQUIRE(acks.waitFor(1, 15s));
    return acks.items().front();
}

}  // namespace

TEST_SUITE("nats") {
    TEST_CASE("a published write comes back on the live subscription with seq and prevSeq chained") {
        NatsFixture f;
        Collector<LogEntry> live;
        auto sub = f.bus->subscribe(kRoomA, [&](LogEntry e) { live.add(std::move(e)); });
        REQUIRE(sub.isOk());

        auto s1 = publishAndWait(*f.bus, kRoomA, "hello");
        auto s2 = publishAndWait(*f.bus, kRoomA, "world");
        REQUIRE(s1.isOk());
        REQUIRE(s2.isOk());
        CHECK(s2.value() > s1.value());
        REQUIRE(live.waitFor(2));
        auto got = live.items();
        CHECK(got[0].seq == s1.value());
        CHECK(got[0].prevKnown);
        CHECK(got[0].prevSeq == 0);
        CHECK(got[0].data == "hello");
        CHECK_FALSE(got[0].msgId.empty());
        CHECK(got[1].seq == s2.value());
        CHECK(got[1].prevSeq == s1.value());
        CHECK(got[1].data == "world");
    }

    TEST_CASE("two interleaved subjects have independent prevSeq chains") {
        NatsFixture f;
        Collector<LogEntry> a, b;
        auto subA = f.bus->subscribe(kRoomA, [&](LogEntry e) { a.add(std::move(e)); });
        auto subB = f.bus->subscribe(kRoomB, [&](LogEntry e) { b.add(std::move(e)); });
        std::vector<uint64_t> seqA, seqB;
        for (int i = 0; i < 5; ++i) {
            seqA.push_back(publishAndWait(*f.bus, kRoomA, "a" + std::to_string(i)).value());
            seqB.push_back(publishAndWait(*f.bus, kRoomB, "b" + std::to_string(i)).value());
        }
        REQUIRE(a.waitFor(5));
        REQUIRE(b.waitFor(5));
        auto gotA = a.items();
        auto gotB = b.items();
        for (size_t i = 0; i < 5; ++i) {
            CHECK(gotA[i].seq == seqA[i]);
            CHECK(gotA[i].prevSeq == (i == 0 ? 0 : seqA[i - 1]));
            CHECK(gotB[i].seq == seqB[i]);
            CHECK(gotB[i].prevSeq == (i == 0 ? 0 : seqB[i - 1]));
        }
    }

    TEST_CASE("a stale expected last sequence is a conflict") {
        NatsFixture f;
        PublishOptions empty;
        empty.expectLastSeq = 0;
        auto first = publishAndWait(*f.bus, kRoomA, "first", empty);
        REQUIRE(first.isOk());
        auto stale = publishAndWait(*f.bus, kRoomA, "again", empty);
        REQUIRE_FALSE(stale.isOk());
        CHECK(stale.status().code() == Code::Conflict);
        PublishOptions current;
        current.expectLastSeq = first.value();
        CHECK(publishAndWait(*f.bus, kRoomA, "next", current).isOk());
    }

    TEST_CASE("the same message id is stored once and acknowledged with the same sequence") {
        NatsFixture f;
        PublishOptions options;
        options.msgId = "write-1";
        auto first = publishAndWait(*f.bus, kRoomA, "x", options);
        auto second = publishAndWait(*f.bus, kRoomA, "x", options);
        REQUIRE(first.isOk());
        REQUIRE(second.isOk());
        CHECK(second.value() == first.value());
        CHECK(f.bus->read(kRoomA, 0, 10).value().size() == 1);
    }

    TEST_CASE("read returns the entries after a sequence, in order, with their headers") {
        NatsFixture f;
        std::vector<uint64_t> seqs;
        for (int i = 0; i < 6; ++i) {
            PublishOptions options;
            if (i == 4) {
                options.binary = true;
                options.exclude = {"conn-1", "odd,id%", "sp ace"};
                options.msgId = "mine-4";
            }
            seqs.push_back(
                publishAndWait(*f.bus, kRoomA, std::string("m\0") + std::to_string(i), options).value());
            publishAndWait(*f.bus, kRoomB, "noise");
        }
        auto entries = f.bus->read(kRoomA, seqs[2], 100);
        REQUIRE(entries.isOk());
        REQUIRE(entries->size() == 3);
        CHECK((*entries)[0].seq == seqs[3]);
        CHECK_FALSE((*entries)[0].prevKnown);
        CHECK((*entries)[1].seq == seqs[4]);
        CHECK((*entries)[1].prevKnown);
        CHECK((*entries)[1].prevSeq == seqs[3]);
        CHECK((*entries)[1].binary);
        CHECK((*entries)[1].exclude == std::vector<std::string>{"conn-1", "odd,id%", "sp ace"});
        CHECK((*entries)[1].msgId == "mine-4");
        CHECK((*entries)[1].timeNs > 0);
        CHECK((*entries)[2].seq == seqs[5]);
        CHECK_FALSE((*entries)[2].binary);
        CHECK((*entries)[2].exclude.empty());

        CHECK(f.bus->read(kRoomA, 0, 2).value().size() == 2);
        CHECK(f.bus->read(kRoomA, seqs[5], 10).value().empty());
        CHECK(f.bus->read("partyline.room.chat.nobody", 0, 10).value().empty());
        CHECK(f.bus->read("not.a.log.subject", 0, 10).status().code() == Code::InvalidArgument);
    }

    TEST_CASE("lastSequence and firstSequence follow writes and retention") {
        NatsConfig cfg;
        cfg.max_msgs_per_room = 3;
        NatsFixture f(cfg);
        CHECK(f.bus->lastSequence(kRoomA).value() == 0);
        CHECK(f.bus->firstSequence(kRoomA).value() == 0);
        std::vector<uint64_t> seqs;
        for (int i = 0; i < 5; ++i) {
            seqs.push_back(publishAndWait(*f.bus, kRoomA, "m").value());
            publishAndWait(*f.bus, kRoomB, "other");
        }
        CHECK(f.bus->lastSequence(kRoomA).value() == seqs[4]);
        CHECK(f.bus->firstSequence(kRoomA).value() == seqs[2]);  // max_msgs_per_room kept three
    }

    TEST_CASE("nextSequence names the subject's first write after a sequence, 0 past its last") {
        NatsConfig cfg;
        cfg.max_msgs_per_room = 3;
        NatsFixture f(cfg);
        CHECK(f.bus->nextSequence(kRoomA, 0).value() == 0);
        std::vector<uint64_t> seqs;
        for (int i = 0; i < 5; ++i) {
            seqs.push_back(publishAndWait(*f.bus, kRoomA, "m").value());
            publishAndWait(*f.bus, kRoomB, "other");
        }
        CHECK(f.bus->nextSequence(kRoomA, 0).value() == seqs[2]);  // retention kept the last three
        CHECK(f.bus->nextSequence(kRoomA, seqs[2]).value() == seqs[3]);
        CHECK(f.bus->nextSequence(kRoomA, seqs[3] + 1).value() == seqs[4]);  // after kRoomB's write
        CHECK(f.bus->nextSequence(kRoomA, seqs[4]).value() == 0);
        CHECK(f.bus->nextSequence("partyline.room.chat.nobody", 0).value() == 0);
        CHECK(f.bus->nextSequence("not.a.log.subject", 0).status().code() == Code::InvalidArgument);
    }

    TEST_CASE("lastSequenceAsync answers on a bus thread: 0, then the last write; a bad subject fails") {
        NatsFixture f;
        auto ask = [&](const std::string& subject) {
            Collector<std::pair<Result<uint64_t>, bool>> answers;
            const auto caller = std::this_thread::get_id();
            f.bus->lastSequenceAsync(subject, [&](Result<uint64_t> r) {
                answers.add({std::move(r), std::this_thread::get_id() == caller});
            });
            REQUIRE(answers.waitFor(1, 10s));
            auto answer = answers.items().front();
            CHECK_FALSE(answer.second);  // never on the calling thread
            return answer.first;
        };
        CHECK(ask(kRoomA).value() == 0);
        publishAndWait(*f.bus, kRoomA, "one");
        auto seq = publishAndWait(*f.bus, kRoomA, "two").value();
        publishAndWait(*f.bus, kRoomB, "elsewhere");
        CHECK(ask(kRoomA).value() == seq);
        CHECK(ask("not.a.log.subject").status().code() == Code::InvalidArgument);
    }

    TEST_CASE("a subscription made before lastSequenceAsync sees every write stored after its answer") {
        NatsFixture f;
        auto other = NatsBus::connect(NatsConfig{}, f.server->url(), "other-node");
        REQUIRE(other.isOk());
        for (int round = 0; round < 20; ++round) {
            const std::string room = "partyline.room.chat.r" + std::to_string(round);
            Collector<LogEntry> live;
            auto sub = f.bus->subscribe(room, [&](LogEntry e) { live.add(std::move(e)); });
            REQUIRE(sub.isOk());
            Collector<Result<uint64_t>> last;
            f.bus->lastSequenceAsync(room, [&](Result<uint64_t> r) { last.add(std::move(r)); });
            REQUIRE(last.waitFor(1, 10s));
            // Written through another connection, once the answer is in.
            auto seq = publishAndWait(*other.value(), room, "after");
            REQUIRE(live.waitFor(1, 5s));
            CHECK(live.items().front().seq == seq.value());
        }
    }

    TEST_CASE("10,000 asynchronous publishes are all acknowledged, in publish order") {
        NatsFixture f;
        constexpr int kCount = 10000;
        std::vector<uint64_t> seqByIndex(kCount, 0);
        std::atomic<int> failures{0};
        Collector<int> acked;
        const auto start = std::chrono::steady_clock::now();
        for (int i = 0; i < kCount; ++i) {
            const std::string& subject = (i % 2 == 0) ? kRoomA : kRoomB;
            f.bus->publish(subject, "payload-" + std::to_string(i), {}, [&, i](Result<uint64_t> r) {
                if (r.isOk()) {
                    seqByIndex[i] = r.value();
                } else {
                    ++failures;
                }
                acked.add(i);
            });
        }
        REQUIRE(acked.waitFor(kCount, 30s));
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        MESSAGE("published and acknowledged " << kCount << " messages in " << seconds
                                              << " s: " << int(kCount / seconds) << " msg/s");
        CHECK(failures == 0);
        for (int i = 1; i < kCount; ++i) REQUIRE(seqByIndex[i] > seqByIndex[i - 1]);
        CHECK(f.bus->pendingPublishes() == 0);
    }

    TEST_CASE("publishAll stores its writes in order; a refused one fails alone, on a bus thread") {
        NatsFixture f;
        constexpr int kCount = 2000;
        constexpr int kRefused = 701;  // of kRoomB: kRoomA keeps every even write
        struct Answer {
            int index;
            Result<uint64_t> result;
            std::thread::id thread;
        };
        Collector<Answer> answers;
        std::vector<Publish> writes;
        for (int i = 0; i < kCount; ++i) {
            const std::string subject = i == kRefused ? "elsewhere.x" : (i % 2 == 0) ? kRoomA : kRoomB;
            writes.push_back({subject, "batch-" + std::to_string(i), {}, [&, i](Result<uint64_t> r) {
                                  answers.add({i, std::move(r), std::this_thread::get_id()});
                              }});
        }
        f.bus->publishAll(std::move(writes));
        REQUIRE(answers.waitFor(kCount, 30s));
        std::vector<uint64_t> seqByIndex(kCount, 0);
        std::set<int> answered;
        for (const auto& a : answers.items()) {
            CHECK(answered.insert(a.index).second);  // one answer per write
            CHECK(a.thread != std::this_thread::get_id());
            if (a.index == kRefused) {
                CHECK(a.result.status().code() == Code::InvalidArgument);
            } else {
                REQUIRE(a.result.isOk());
                seqByIndex[a.index] = a.result.value();
            }
        }
        uint64_t last = 0;
        for (int i = 0; i < kCount; ++i) {
            if (i == kRefused) continue;
            REQUIRE(seqByIndex[i] > last);
            last = seqByIndex[i];
        }
        auto stored = f.bus->read(kRoomA, 0, kCount);
        REQUIRE(stored.isOk());
        REQUIRE(stored->size() == size_t(kCount / 2));
        for (int i = 0; i < kCount / 2; ++i) CHECK((*stored)[i].data == "batch-" + std::to_string(2 * i));
        CHECK(f.bus->pendingPublishes() == 0);
    }

    TEST_CASE("read of many entries") {
        NatsFixture f;
        constexpr int kCount = 2000;
        Collector<int> acked;
        for (int i = 0; i < kCount; ++i) {
            f.bus->publish(kRoomA, std::to_string(i), {},
                           [&](Result<uint64_t> r) { acked.add(r.isOk() ? 1 : 0); });
        }
        REQUIRE(acked.waitFor(kCount, 30s));
        const auto start = std::chrono::steady_clock::now();
        auto entries = f.bus->read(kRoomA, 0, kCount);
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        REQUIRE(entries.isOk());
        MESSAGE("read " << entries->size() << " entries in " << seconds << " s");
        REQUIRE(entries->size() == size_t(kCount));
        for (int i = 0; i < kCount; ++i) REQUIRE((*entries)[i].data == std::to_string(i));
    }

    TEST_CASE(
        "batched reads give what one read per entry gives: other subjects between, batches cut by bytes") {
        // On a 2.11+ server the fixture's bus reads in batches; `each` asks one entry per request.
        NatsFixture f;
        NatsConfig eachConfig;
        eachConfig.batch_reads = false;
        auto connected = NatsBus::connect(eachConfig, f.server->url(), "test-node-each");
        REQUIRE_MESSAGE(connected.isOk(), connected.status().toString());
        auto each = std::move(connected.value());
        constexpr int kCount = 600;
        Collector<int> acked;
        auto publish = [&](const std::string& subject, std::string data) {
            f.bus->publish(subject, std::move(data), {},
                           [&](Result<uint64_t> r) { acked.add(r.isOk() ? 1 : 0); });
        };
        for (int i = 0; i < kCount; ++i) {
            // Entries 300-305 are 400 KiB each: a batch stops at 1 MiB and the next one goes on.
            std::string data = "a-" + std::to_string(i);
            if (i >= 300 && i < 306) data += std::string(400 * 1024, 'x');
            publish(kRoomA, std::move(data));
            publish(kRoomB, "b-" + std::to_string(i));
            publish(kRoomB, "b-" + std::to_string(i) + "'");
        }
        REQUIRE(acked.waitFor(3 * kCount, 60s));
        auto all = each->read(kRoomA, 0, kCount + 10);
        REQUIRE(all.isOk());
        REQUIRE(all->size() == size_t(kCount));
        const auto& log = all.value();
        struct Case {
            uint64_t after;
            size_t limit;
        };
        for (Case c : {Case{0, kCount}, Case{0, 257}, Case{log[99].seq, 1000}, Case{log[299].seq, 3},
                       Case{log[298].seq + 1, 64}, Case{log.back().seq, 10}}) {
            CAPTURE(c.after);
            CAPTURE(c.limit);
            auto batched = f.bus->read(kRoomA, c.after, c.limit);
            auto single = each->read(kRoomA, c.after, c.limit);
            REQUIRE(batched.isOk());
            REQUIRE(single.isOk());
            REQUIRE(batched->size() == single->size());
            CHECK(batched->size() <= c.limit);
            for (size_t i = 0; i < single->size(); ++i) {
                const LogEntry& got = (*batched)[i];
                const LogEntry& want = (*single)[i];
                REQUIRE(got.seq == want.seq);
                CHECK(got.seq > c.after);
                CHECK(got.data == want.data);
                CHECK(got.prevSeq == want.prevSeq);
                CHECK(got.prevKnown == want.prevKnown);
                CHECK(got.msgId == want.msgId);
                CHECK(got.timeNs == want.timeNs);
            }
        }
        CHECK(f.bus->read(kRoomA, log.back().seq, 10).value().empty());
        CHECK(f.bus->read("partyline.room.chat.nobody", 0, 300).value().empty());

        // The requests: one per entry on a server before 2.11, at most a few per batch of 256 on
        // a newer one (a batch cut at 1 MiB takes one more).
        const uint64_t before = f.bus->logReadRequests();
        REQUIRE(f.bus->read(kRoomA, 0, kCount).value().size() == size_t(kCount));
        const uint64_t requests = f.bus->logReadRequests() - before;
        MESSAGE("nats-server " << f.server->version().text << ": " << requests << " requests for " << kCount
                               << " entries");
        if (f.server->version().atLeast(2, 11))
            CHECK(requests <= 8);
        else
            CHECK(requests == uint64_t(kCount));
    }

    TEST_CASE("no delivery after the subscription is destroyed") {
        NatsFixture f;
        Collector<LogEntry> live;
        auto sub = f.bus->subscribe(kRoomA, [&](LogEntry e) { live.add(std::move(e)); });
        publishAndWait(*f.bus, kRoomA, "before");
        REQUIRE(live.waitFor(1));
        sub.value().reset();
        publishAndWait(*f.bus, kRoomA, "after");
        std::this_thread::sleep_for(200ms);
        CHECK(live.size() == 1);
    }

    TEST_CASE("a subscription may destroy itself from its own callback") {
        NatsFixture f;
        std::mutex mutex;
        std::unique_ptr<Subscription> sub;
        Collector<LogEntry> live;
        auto created = f.bus->subscribe(kRoomA, [&](LogEntry e) {
            live.add(std::move(e));
            std::lock_guard lock(mutex);
            sub.reset();
        });
        {
            std::lock_guard lock(mutex);
            sub = std::move(created.value());
        }
        publishAndWait(*f.bus, kRoomA, "one");
        publishAndWait(*f.bus, kRoomA, "two");
        REQUIRE(live.waitFor(1));
        std::this_thread::sleep_for(200ms);
        CHECK(live.size() == 1);
        // The callback reset `sub` under the mutex; taking it here orders that
        // write before this thread reads (and later destroys) `sub`.
        std::lock_guard lock(mutex);
        CHECK(sub == nullptr);
    }

    TEST_CASE("a subscription may outlive the bus") {
        NatsFixture f;
        Collector<LogEntry> live;
        auto sub = f.bus->subscribe(kRoomA, [&](LogEntry e) { live.add(std::move(e)); });
        publishAndWait(*f.bus, kRoomA, "x");
        REQUIRE(live.waitFor(1));
        f.bus.reset();
        sub.value().reset();
    }

    TEST_CASE("bad subjects are refused") {
        NatsFixture f;
        CHECK(f.bus->subscribe("partyline.live.chat.a", [](LogEntry) {}).status().code() ==
              Code::InvalidArgument);
        CHECK(f.bus->subscribe("partyline.room.>", [](LogEntry) {}).status().code() == Code::InvalidArgument);
        CHECK(publishAndWait(*f.bus, "elsewhere.x", "x").status().code() == Code::InvalidArgument);
        CHECK(publishAndWait(*f.bus, "partyline.room.chat.a b", "x").status().code() ==
              Code::InvalidArgument);
        PublishOptions badId;
        badId.msgId = "two\r\nlines";
        CHECK(publishAndWait(*f.bus, kRoomA, "x", badId).status().code() == Code::InvalidArgument);
    }

    TEST_CASE("a write over the server's payload limit is too large, answered on a bus thread") {
        NatsFixture f;
        Collector<std::pair<Code, std::thread::id>> answers;
        f.bus->publish(kRoomA, std::string(2 << 20, 'x'), {}, [&](Result<uint64_t> r) {
            answers.add({r.isOk() ? Code::Ok : r.status().code(), std::this_thread::get_id()});
        });
        REQUIRE(answers.waitFor(1));
        CHECK(answers.items()[0].first == Code::TooLarge);
        CHECK(answers.items()[0].second != std::this_thread::get_id());
        CHECK(f.bus->pendingPublishes() == 0);
    }

    TEST_CASE("connect updates a stream whose configuration changed, and names what it cannot change") {
        NatsFixture f;
        NatsConfig changed;
        changed.max_age = std::chrono::hours(1);
        changed.max_msgs_per_room = 50;
        auto updated = NatsBus::connect(changed, f.server->url(), "second-node");
        CHECK_MESSAGE(updated.isOk(), updated.status().toString());

        NatsConfig overlapping;
        overlapping.stream = "ANOTHER";  // a second stream on the same subjects
        auto refused = NatsBus::connect(overlapping, f.server->url(), "third-node");
        REQUIRE_FALSE(refused.isOk());
        MESSAGE(refused.status().toString());
        CHECK(refused.status().message().find("overlap") != std::string::npos);
    }

    TEST_CASE("connect to a server that is not there fails after a bounded retry") {
        const auto start = std::chrono::steady_clock::now();
        auto bus = NatsBus::connect({}, "nats://127.0.0.1:1", "lonely");
        CHECK_FALSE(bus.isOk());
        CHECK(bus.status().code() == Code::Unavailable);
        CHECK(std::chrono::steady_clock::now() - start < 15s);
    }

    TEST_CASE("ready follows the server; the bus reconnects after a crash and delivers again") {
        NatsFixture f;
        CHECK(f.bus->ready().isOk());
        Collector<LogEntry> live;
        auto sub = f.bus->subscribe(kRoomA, [&](LogEntry e) { live.add(std::move(e)); });
        f.server->killHard();
        CHECK(eventually([&] { return !f.bus->ready().isOk(); }));
        REQUIRE(f.server->restart().isOk());
        CHECK(eventually([&] { return f.bus->ready().isOk(); }));
        CHECK(eventually([&] { return f.bus->reconnects() == 1; }));  // reported on nats.c's event thread
        auto seq = publishAndWait(*f.bus, kRoomA, "after restart");
        REQUIRE(seq.isOk());
        REQUIRE(live.waitFor(1));
        CHECK(live.items().back().seq == seq.value());
    }

    TEST_CASE("a publish with no server fails after the deadline, with the cause") {
        NatsFixture f;
        f.server->killHard();
        const auto start = std::chrono::steady_clock::now();
        auto result = publishAndWait(*f.bus, kRoomA, "into the void");
        const auto waited = std::chrono::steady_clock::now() - start;
        REQUIRE_FALSE(result.isOk());
        CHECK(result.status().code() == Code::Unavailable);
        CHECK(result.status().message().find("no acknowledgement from JetStream") != std::string::npos);
        CHECK(waited >= NatsBus::kPublishDeadline - 200ms);
        CHECK(waited < NatsBus::kPublishDeadline + 2s);
    }

    TEST_CASE(
        "killing the server while publishing: every publish answers, every acknowledged write is stored "
        "once") {
        NatsFixture f;
        constexpr int kCount = 3000;
        struct Outcome {
            int index;
            bool ok;
            uint64_t seq;
            Code code;
        };
        Collector<Outcome> outcomes;
        std::thread publisher([&] {
            for (int i = 0; i < kCount; ++i) {
                PublishOptions options;
                options.msgId = "crash-" + std::to_string(i);
                const std::string& subject = (i % 3 == 0) ? kRoomB : kRoomA;
                f.bus->publish(subject, std::to_string(i), options, [&, i](Result<uint64_t> r) {
                    outcomes.add(
                        {i, r.isOk(), r.isOk() ? r.value() : 0, r.isOk() ? Code::Ok : r.status().code()});
                });
                if (i % 10 == 0) std::this_thread::sleep_for(1ms);
            }
        });
        std::this_thread::sleep_for(150ms);
        f.server->killHard();
        std::this_thread::sleep_for(500ms);
        REQUIRE(f.server->restart().isOk());
        publisher.join();
        REQUIRE(outcomes.waitFor(kCount, NatsBus::kPublishDeadline + 10s));

        std::map<std::string, std::pair<int, uint64_t>> stored;  // msg id -> (copies, seq)
        for (const auto& subject : {kRoomA, kRoomB}) {
            auto entries = f.bus->read(subject, 0, kCount * 2);
            REQUIRE(entries.isOk());
            for (const auto& e : entries.value()) {
                auto& slot = stored[e.msgId];
                ++slot.first;
                slot.second = e.seq;
            }
        }
        int acked = 0, failed = 0;
        std::set<int> answered;
        for (const auto& o : outcomes.items()) {
            CHECK(answered.insert(o.index).second);  // exactly one answer per publish
            const std::string id = "crash-" + std::to_string(o.index);
            if (o.ok) {
                ++acked;
                REQUIRE(stored.count(id) == 1);
                CHECK(stored[id].first == 1);
                CHECK(stored[id].second == o.seq);
            } else {
                ++failed;
                CHECK((o.code == Code::Unavailable || o.code == Code::Timeout));
                if (stored.count(id)) CHECK(stored[id].first == 1);
            }
        }
        for (const auto& [id, slot] : stored) CHECK(slot.first == 1);
        MESSAGE("after a server crash: " << acked << " acknowledged, " << failed << " failed, "
                                         << f.bus->reconnects() << " reconnect(s), "
                                         << f.bus->publishResends() << " re-sent");
        CHECK(acked + failed == kCount);
        CHECK(f.bus->reconnects() >= 1);
    }
}

namespace {

NatsConfig partitioned(int count) {
    NatsConfig cfg;
    cfg.partitions = count;
    return cfg;
}

// The log subject of room `room` of party "chat" among `count` partitions.
std::string roomLog(const std::string& room, int count) {
    return roomSubjects("partyline", "chat", room, partitionOf("chat", room, count), count).log;
}

// The first room "r<n>" of partition `partition` among `count`.
std::string roomIn(int partition, int count) {
    for (int n = 0; n < 1000; ++n) {
        const std::string room = "r" + std::to_string(n);
        if (partitionOf("chat", room, count) == partition) return room;
    }
    FAIL("no room of partition " << partition);
    return {};
}

// Deletes a stream over a connection of its own, as an operator would.
void deleteStream(const std::string& url, const std::string& name) {
    natsConnection* nc = nullptr;
    REQUIRE(natsConnection_ConnectTo(&nc, url.c_str()) == NATS_OK);
    ConnectionPtr connection(nc);
    jsCtx* raw = nullptr;
    REQUIRE(natsConnection_JetStream(&raw, nc, nullptr) == NATS_OK);
    JetStreamPtr js(raw);
    REQUIRE(js_DeleteStream(js.get(), name.c_str(), nullptr, nullptr) == NATS_OK);
}

}  // namespace

TEST_SUITE("nats") {
    TEST_CASE("with three partitions each room's writes, reads and live copies use its partition's stream") {
        NatsFixture f(partitioned(3));
        std::vector<std::string> logs;
        for (int p = 0; p < 3; ++p) logs.push_back(roomLog(roomIn(p, 3), 3));
        Collector<LogEntry> live;
        auto sub = f.bus->subscribe(logs[1], [&](LogEntry e) { live.add(std::move(e)); });
        REQUIRE(sub.isOk());
        CHECK(f.bus->lastSequence(logs[1]).value() == 0);
        for (const auto& log : logs) {
            // Each stream numbers its own writes: the first write of every partition is 1.
            CHECK(publishAndWait(*f.bus, log, "first of " + log).value() == 1);
            CHECK(publishAndWait(*f.bus, log, "second").value() == 2);
        }
        REQUIRE(live.waitFor(2));
        CHECK(live.items()[0].data == "first of " + logs[1]);
        CHECK(live.items()[1].prevSeq == 1);
        for (const auto& log : logs) {
            auto entries = f.bus->read(log, 0, 10);
            REQUIRE(entries.isOk());
            REQUIRE(entries->size() == 2);
            CHECK(entries->at(0).data == "first of " + log);
            CHECK(f.bus->lastSequence(log).value() == 2);
            CHECK(f.bus->firstSequence(log).value() == 1);
            CHECK_FALSE(f.bus->epoch(log).empty());
        }
        CHECK(f.bus->ready().isOk());
    }

    TEST_CASE("with three partitions a subject without its partition, or another, is refused") {
        NatsFixture f(partitioned(3));
        const std::string room = roomIn(0, 3);
        const std::string wrong = roomSubjects("partyline", "chat", room, 1, 3).log;
        for (const std::string& bad :
             {"partyline.room.chat." + room, std::string("partyline.room.3.chat.x")}) {
            CAPTURE(bad);
            auto refused = publishAndWait(*f.bus, bad, "x");
            CHECK(refused.status().code() == Code::InvalidArgument);
            CHECK(f.bus->read(bad, 0, 1).status().code() == Code::InvalidArgument);
            CHECK(f.bus->epoch(bad).empty());
        }
        // A valid partition token that is not the room's own still names a stream: the bus keeps
        // no map of rooms, RoomRegistry builds every room's subject from its partition.
        CHECK(publishAndWait(*f.bus, wrong, "x").isOk());
    }

    TEST_CASE("each partition's stream has its own epoch: one created again changes only its own") {
        NatsFixture f(partitioned(3));
        std::vector<std::string> logs;
        for (int p = 0; p < 3; ++p) logs.push_back(roomLog(roomIn(p, 3), 3));
        std::vector<std::string> before;
        for (const auto& log : logs) before.push_back(f.bus->epoch(log));
        deleteStream(f.server->url(), "PARTYLINE-1");
        f.bus->checkEpoch();
        REQUIRE(eventually([&] { return f.bus->epoch(logs[1]) != before[1]; }, 20s));
        CHECK(f.bus->epoch(logs[0]) == before[0]);
        CHECK(f.bus->epoch(logs[2]) == before[2]);
        CHECK(publishAndWait(*f.bus, logs[1], "after").value() == 1);  // the new stream starts over
    }

    TEST_CASE("a node refuses streams of another partition count, saying what it found and what to do") {
        NatsFixture f;  // one partition: stream PARTYLINE
        publishAndWait(*f.bus, kRoomA, "kept");
        auto three = NatsBus::connect(partitioned(3), f.server->url(), "second-node");
        REQUIRE_FALSE(three.isOk());
        CHECK(three.status().code() == Code::InvalidArgument);
        MESSAGE(three.status().toString());
        CHECK(three.status().message().find("nats.partitions is 3") != std::string::npos);
        CHECK(three.status().message().find("PARTYLINE (a single partition, 1 write)") != std::string::npos);
        CHECK(three.status().message().find("nats.partitions: 1 as before") != std::string::npos);

        NatsConfig other = partitioned(3);
        other.stream = "ROOMS";
        other.subject_prefix = "rooms";
        auto made = NatsBus::connect(other, f.server->url(), "third-node");
        REQUIRE_MESSAGE(made.isOk(), made.status().toString());
        made.value().reset();
        for (int count : {1, 5}) {
            NatsConfig changed = other;
            changed.partitions = count;
            auto refused = NatsBus::connect(changed, f.server->url(), "fourth-node");
            REQUIRE_FALSE(refused.isOk());
            CAPTURE(refused.status().toString());
            CHECK(refused.status().message().find("ROOMS-2 (partition 2 of 3, empty)") != std::string::npos);
            CHECK(refused.status().message().find("nats.partitions: 3 as before") != std::string::npos);
        }
    }

    TEST_CASE("nodes that start together on an empty server all make or bind the same streams and buckets") {
        // Each round, four nodes create one stream and one bucket at the same moment. nats-server
        // 2.9 can answer a losing create "subjects overlap with an existing stream".
        NatsFixture f;
        constexpr int kRounds = 40;
        constexpr int kNodes = 4;
        for (int round = 0; round < kRounds; ++round) {
            NatsConfig cfg;
            cfg.stream = "TOGETHER" + std::to_string(round);
            cfg.subject_prefix = "together" + std::to_string(round);
            const std::string bucket = "TOGETHER_KV_" + std::to_string(round);
            std::vector<Status> started(kNodes, Status::ok());
            std::vector<Status> opened(kNodes, Status::ok());
            std::latch connect(kNodes), open(kNodes);
            std::vector<std::thread> nodes;
            for (int n = 0; n < kNodes; ++n)
                nodes.emplace_back([&, n] {
                    connect.arrive_and_wait();
                    auto bus = NatsBus::connect(cfg, f.server->url(), "node-" + std::to_string(n));
                    if (!bus) started[n] = bus.status();
                    open.arrive_and_wait();
                    if (!bus) return;
                    auto kv = bus.value()->openKeyValue({bucket, 1, {}});
                    if (!kv) opened[n] = kv.status();
                });
            for (auto& node : nodes) node.join();
            for (int n = 0; n < kNodes; ++n) {
                CAPTURE(round);
                CAPTURE(n);
                CHECK_MESSAGE(started[n].isOk(), started[n].toString());
                CHECK_MESSAGE(opened[n].isOk(), opened[n].toString());
            }
        }
        CHECK(publishAndWait(*f.bus, kRoomA, "still mine").value() == 1);  // the rounds left PARTYLINE alone

        NatsConfig overlapping;  // another stream over round 0's subjects: a real overlap, refused
        overlapping.stream = "ELSEWHERE";
        overlapping.subject_prefix = "together0";
        auto refused = NatsBus::connect(overlapping, f.server->url(), "overlapping-node");
        REQUIRE_FALSE(refused.isOk());
        CHECK(refused.status().message().find("subjects overlap") != std::string::npos);
    }
}
