// Sender and Outbox over real sockets (AF_UNIX pairs and loopback TCP): order, batching, the slow
// consumer close and its isolation, the close grace, and detach racing a write.
#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "NetTestSupport.h"
#include "net/Sender.h"
#include "net/WebSocketProtocol.h"

namespace partyline::net {
namespace {

using namespace std::chrono_literals;
using test::FrameStream;
using test::ServerFrame;
using test::TcpPair;
using test::UnixPair;

FramePtr frame(Opcode op, std::string_view payload) {
    return std::make_shared<const std::string>(encodeFrame(op, payload));
}

// Reads frames on `fd` until `count` arrived or the stream ends; on its own thread.
std::vector<ServerFrame> readFrames(int fd, size_t count) {
    FrameStream stream(fd);
    std::vector<ServerFrame> frames;
    while (frames.size() < count) {
        auto f = stream.next(5s);
        if (!f) break;
        frames.push_back(std::move(*f));
    }
    return frames;
}

template <class Predicate>
bool waitFor(Predicate done, std::chrono::milliseconds timeout = 3000ms) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        std::this_thread::sleep_for(1ms);
    }
    return true;
}

// `count` socket pairs, the writer side of each attached to `sender` with a 1 MiB limit.
struct AttachedPairs {
    std::vector<std::unique_ptr<UnixPair>> pairs;
    std::vector<std::shared_ptr<Outbox>> outboxes;
    AttachedPairs(Sender& sender, size_t count) {
        for (size_t i = 0; i < count; ++i) {
            pairs.push_back(std::make_unique<UnixPair>());
            outboxes.push_back(sender.attach(pairs.back()->writer, 1 << 20));
        }
    }
};

// Sends frame "<i>.<round>" to outbox i for each of `rounds` rounds, through `batch`. True when
// every send was queued.
bool sendRounds(const std::vector<std::shared_ptr<Outbox>>& outboxes, size_t rounds, SendBatch& batch) {
    bool queued = true;
    for (size_t round = 0; round < rounds; ++round)
        for (size_t i = 0; i < outboxes.size(); ++i)
            queued &= outboxes[i]->send(frame(Opcode::Text, std::to_string(i) + "." + std::to_string(round)),
                                        batch) == SendResult::Queued;
    return queued;
}

// Sends `f` one at a time while the writer keeps up, so the socket's kernel buffer is full (the
// client is really not reading) before the outbox's own queue grows. Returns the frames sent.
size_t fillSocket(Outbox& outbox, const FramePtr& f) {
    size_t sent = 0;
    for (; sent < 100000; ++sent) {
        outbox.send(f);
        if (!waitFor([&] { return outbox.queuedBytes() == 0; }, 50ms)) return sent + 1;
    }
    return sent;
}

TEST_SUITE("net.Sender") {
    TEST_CASE("many frames arrive complete and in order") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 64 << 20);
        constexpr size_t kFrames = 20000;
        std::vector<ServerFrame> got;
        std::thread reader([&] { got = readFrames(pair.reader, kFrames); });
        for (size_t i = 0; i < kFrames; ++i)
            CHECK(outbox->send(frame(Opcode::Text, std::to_string(i))) == SendResult::Queued);
        reader.join();
        REQUIRE(got.size() == kFrames);
        for (size_t i = 0; i < kFrames; ++i) {
            if (got[i].payload != std::to_string(i)) FAIL("frame " << i << " is " << got[i].payload);
        }
        CHECK(waitFor([&] { return sender.stats().framesWritten == kFrames; }));
        outbox->detach();
    }

    TEST_CASE("frames of every size cross loopback TCP intact and in order") {
        Sender sender;
        TcpPair pair;
        auto outbox = sender.attach(pair.server, 64 << 20);
        std::vector<size_t> sizes = {0, 1, 125, 126, 65535, 65536, 300000, 7, 1 << 20, 3};
        std::vector<ServerFrame> got;
        std::thread reader([&] { got = readFrames(pair.client, sizes.size()); });
        for (size_t i = 0; i < sizes.size(); ++i) {
            outbox->send(frame(Opcode::Binary, std::string(sizes[i], char('a' + i))));
        }
        reader.join();
        REQUIRE(got.size() == sizes.size());
        for (size_t i = 0; i < sizes.size(); ++i) {
            CHECK(got[i].opcode == 2);
            CHECK(!got[i].masked);
            CHECK(got[i].payload == std::string(sizes[i], char('a' + i)));
        }
        outbox->detach();
    }

    TEST_CASE("a backlog is written with many frames per call") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 64 << 20);
        // A frame far larger than the socket buffer holds the writer on EAGAIN while the rest queue.
        outbox->send(frame(Opcode::Binary, std::string(4 << 20, 'B')));
        constexpr size_t kSmall = 1000;
        for (size_t i = 0; i < kSmall; ++i) outbox->send(frame(Opcode::Text, "m" + std::to_string(i)));
        auto got = readFrames(pair.reader, kSmall + 1);
        REQUIRE(got.size() == kSmall + 1);
        CHECK(got[kSmall].payload == "m999");
        CHECK(waitFor([&] { return sender.stats().framesWritten == kSmall + 1; }));
        auto stats = sender.stats();
        INFO("frames " << stats.framesWritten << " in " << stats.writeCalls << " calls");
        CHECK(stats.writeCalls < 200);
        CHECK(stats.bytesWritten > (4u << 20));
        outbox->detach();
    }

    TEST_CASE("a held outbox writes nothing until released, then its first frame before the rest") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attachHeld(pair.writer, 1 << 20, frame(Opcode::Text, "first"));
        CHECK(outbox->send(frame(Opcode::Text, "queued")) == SendResult::Queued);
        CHECK(outbox->sendNow(frame(Opcode::Text, "now")) == SendResult::Queued);
        pollfd readable{pair.reader, POLLIN, 0};
        CHECK(::poll(&readable, 1, 200) == 0);  // not a byte while held
        CHECK(sender.stats().framesWritten == 0);
        outbox->release();
        auto got = readFrames(pair.reader, 3);
        REQUIRE(got.size() == 3);
        CHECK(got[0].payload == "first");
        CHECK(got[1].payload == "queued");
        CHECK(got[2].payload == "now");
        // Released, it is an ordinary outbox: the next frame is written at once.
        outbox->sendNow(frame(Opcode::Text, "after"));
        auto more = readFrames(pair.reader, 1);
        REQUIRE(more.size() == 1);
        CHECK(more[0].payload == "after");
        outbox->release();  // a second release does nothing
        outbox->detach();
    }

    TEST_CASE("a held outbox is not a slow consumer: past its limit it keeps every frame for the release") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attachHeld(pair.writer, 100, frame(Opcode::Text, "first"));
        for (int i = 0; i < 20; ++i)
            CHECK(outbox->send(frame(Opcode::Text, "frame " + std::to_string(i))) == SendResult::Queued);
        CHECK_FALSE(outbox->closed());
        std::vector<ServerFrame> got;
        std::thread reader([&] { got = readFrames(pair.reader, 21); });
        outbox->release();
        reader.join();
        REQUIRE(got.size() == 21);
        CHECK(got[0].payload == "first");
        CHECK(got[20].payload == "frame 19");
        CHECK(sender.stats().slowCloses == 0);
        outbox->detach();
    }

    TEST_CASE("a close during the hold writes the first frame, then the Close") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attachHeld(pair.writer, 1 << 20, frame(Opcode::Text, "first"));
        outbox->close(1011, "room script failed to load");
        auto got = readFrames(pair.reader, 2);
        REQUIRE(got.size() == 2);
        CHECK(got[0].payload == "first");
        CHECK(got[1].opcode == 8);
        CHECK(got[1].closeCode() == 1011);
        outbox->release();
        outbox->detach();
    }

    TEST_CASE("a frame larger than the limit is taken into an empty queue") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 100);
        CHECK(outbox->send(frame(Opcode::Binary, std::string(1000, 'x'))) == SendResult::Queued);
        auto got = readFrames(pair.reader, 1);
        REQUIRE(got.size() == 1);
        CHECK(got[0].payload.size() == 1000);
        outbox->detach();
    }

    TEST_CASE("a reader that stops reading is closed 1013 while another outbox keeps flowing") {
        Sender sender;
        UnixPair slow, healthy;
        constexpr size_t kLimit = 64 * 1024;
        auto slowBox = sender.attach(slow.writer, kLimit);
        auto healthyBox = sender.attach(healthy.writer, kLimit);
        constexpr size_t kHealthyFrames = 3000;
        std::vector<ServerFrame> healthyGot;
        std::thread healthyReader([&] { healthyGot = readFrames(healthy.reader, kHealthyFrames); });

        auto big = frame(Opcode::Binary, std::string(16 * 1024, 's'));
        size_t sent = fillSocket(*slowBox, big), healthySent = 0;
        SendResult result = SendResult::Queued;
        while (result == SendResult::Queued && sent < 10000) {
            result = slowBox->send(big);
            if (result == SendResult::Queued) ++sent;
            healthyBox->send(frame(Opcode::Text, std::to_string(healthySent++)));
        }
        REQUIRE(result == SendResult::Slow);
        CHECK(slowBox->closed());
        CHECK(slowBox->send(big) == SendResult::Closed);
        CHECK(sender.stats().slowCloses == 1);
        REQUIRE(slowBox->localClose());
        CHECK(slowBox->localClose()->code == 1013);

        while (healthySent < kHealthyFrames) {
            CHECK(healthyBox->send(frame(Opcode::Text, std::to_string(healthySent++))) == SendResult::Queued);
        }
        healthyReader.join();
        REQUIRE(healthyGot.size() == kHealthyFrames);
        for (size_t i = 0; i < kHealthyFrames; ++i) {
            if (healthyGot[i].payload != std::to_string(i)) FAIL("healthy frame " << i);
        }

        // The slow client, reading at last: whole frames only, then the Close, then the end.
        FrameStream stream(slow.reader);
        size_t frames = 0;
        std::optional<ServerFrame> f;
        while ((f = stream.next(3s)) && f->opcode == 2) {
            CHECK(f->payload.size() == 16 * 1024);
            ++frames;
        }
        REQUIRE(f);
        CHECK(f->opcode == 8);
        CHECK(f->closeCode() == 1013);
        CHECK(f->closeReason() == "slow consumer: send buffer of 65536 bytes full");
        CHECK(frames < sent);  // what had not started was dropped
        CHECK(stream.waitEof(3s));
        slowBox->detach();
        healthyBox->detach();
    }

    TEST_CASE("a slow client that never reads is shut down after the 2 s grace") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 32 * 1024);
        auto big = frame(Opcode::Binary, std::string(16 * 1024, 'g'));
        fillSocket(*outbox, big);
        SendResult result = SendResult::Queued;
        for (int i = 0; i < 10000 && result == SendResult::Queued; ++i) result = outbox->send(big);
        REQUIRE(result == SendResult::Slow);
        auto start = std::chrono::steady_clock::now();
        // Writing towards a socket shut for reading fails with EPIPE: that is the signal.
        bool shut = waitFor(
            [&] { return ::send(pair.reader, "x", 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && errno == EPIPE; },
            4000ms);
        auto elapsed = std::chrono::steady_clock::now() - start;
        CHECK(shut);
        CHECK(elapsed >= 1500ms);
        CHECK(elapsed < 3500ms);
        CHECK(outbox->queuedBytes() == 0);
        outbox->detach();
    }

    TEST_CASE("close writes what is queued, then the Close, then shuts the socket down") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 1 << 20);
        outbox->send(frame(Opcode::Text, "one"));
        outbox->send(frame(Opcode::Text, "two"));
        outbox->close(4000, "bye");
        CHECK(outbox->closed());
        CHECK(outbox->send(frame(Opcode::Text, "three")) == SendResult::Closed);
        outbox->close(4001, "ignored: only the first close counts");
        FrameStream stream(pair.reader);
        auto a = stream.next(), b = stream.next(), c = stream.next();
        REQUIRE((a && b && c));
        CHECK(a->payload == "one");
        CHECK(b->payload == "two");
        CHECK(c->opcode == 8);
        CHECK(c->closeCode() == 4000);
        CHECK(c->closeReason() == "bye");
        CHECK(stream.waitEof(2s));
        REQUIRE(outbox->localClose());
        CHECK(outbox->localClose()->code == 4000);
        outbox->detach();
    }

    TEST_CASE("after its Close the socket still takes what the client sends, so no reset is answered") {
        // Data reaching a TCP socket shut for reading is answered with a reset, which discards what
        // the server has not delivered yet (its Close included): only writing may be shut.
        Sender sender;
        TcpPair pair;
        auto outbox = sender.attach(pair.server, 1 << 20);
        outbox->close(4000, "bye");
        FrameStream stream(pair.client);
        auto close = stream.next();
        REQUIRE(close);
        CHECK(close->closeCode() == 4000);
        CHECK(stream.waitEof(2s));
        REQUIRE(test::writeAll(pair.client, "late"));
        pollfd pfd{pair.server, POLLIN, 0};
        REQUIRE(::poll(&pfd, 1, 2000) == 1);
        char buf[16];
        CHECK(::recv(pair.server, buf, sizeof buf, MSG_DONTWAIT) == 4);
        outbox->detach();
    }

    TEST_CASE("queued bytes count what the socket has not taken yet") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 64 << 20);
        CHECK(outbox->queuedBytes() == 0);
        auto big = frame(Opcode::Binary, std::string(2 << 20, 'q'));
        outbox->send(big);
        CHECK(waitFor([&] { return sender.stats().writeCalls > 0; }));
        size_t queued = outbox->queuedBytes();
        CHECK(queued > 0);
        CHECK(queued < big->size());
        auto got = readFrames(pair.reader, 1);
        REQUIRE(got.size() == 1);
        CHECK(waitFor([&] { return outbox->queuedBytes() == 0; }));
        outbox->detach();
    }

    TEST_CASE("detach during writes: the Sender never touches the fd again, even once its number is reused") {
        Sender sender;
        for (int round = 0; round < 20; ++round) {
            auto pair = std::make_unique<UnixPair>();
            auto outbox = sender.attach(pair->writer, 1 << 30);
            std::atomic<bool> stop{false};
            std::thread drain([&, fd = pair->reader] {
                char buf[65536];
                while (!stop) {
                    pollfd pfd{fd, POLLIN, 0};
                    if (::poll(&pfd, 1, 10) > 0 && ::recv(fd, buf, sizeof buf, MSG_DONTWAIT) == 0) break;
                }
            });
            auto chunk = frame(Opcode::Binary, std::string(64 * 1024, 'd'));
            std::thread producer([&] {
                while (outbox->send(chunk) != SendResult::Closed) std::this_thread::yield();
            });
            std::this_thread::sleep_for(std::chrono::milliseconds(1 + round % 5));
            outbox->detach();
            int oldFd = pair->writer;
            ::close(pair->writer);
            pair->writer = -1;
            // The lowest free number is handed out again: a new socket most likely gets oldFd.
            UnixPair reuse;
            producer.join();
            std::this_thread::sleep_for(5ms);
            char byte;
            CHECK_MESSAGE(::recv(reuse.reader, &byte, 1, MSG_DONTWAIT) < 0,
                          "bytes arrived on a reused fd " << reuse.writer << " (old " << oldFd << ")");
            stop = true;
            drain.join();
        }
    }

    TEST_CASE("a batch hands its outboxes to the Sender together: nothing is written before the flush") {
        Sender sender;
        constexpr size_t kOutboxes = 8;
        AttachedPairs attached(sender, kOutboxes);
        auto& [pairs, outboxes] = attached;
        SendBatch batch;
        CHECK(sendRounds(outboxes, 3, batch));
        // The Sender's thread does not know of them yet: no socket has a byte.
        for (size_t i = 0; i < kOutboxes; ++i) {
            pollfd readable{pairs[i]->reader, POLLIN, 0};
            CHECK(::poll(&readable, 1, 0) == 0);
            CHECK(outboxes[i]->queuedBytes() > 0);
        }
        CHECK(sender.stats().framesWritten == 0);
        batch.flush();
        for (size_t i = 0; i < kOutboxes; ++i) {
            auto got = readFrames(pairs[i]->reader, 3);
            REQUIRE(got.size() == 3);
            for (size_t round = 0; round < 3; ++round)
                CHECK(got[round].payload == std::to_string(i) + "." + std::to_string(round));
        }
        CHECK(waitFor([&] { return sender.stats().writeCalls == kOutboxes; }));  // one sendmsg each
        batch.flush();                                                           // an empty batch: nothing
        for (auto& outbox : outboxes) outbox->detach();
    }

    TEST_CASE("a batch over the outboxes of two Senders hands each its own; the end of the batch flushes") {
        Sender one, two;
        constexpr size_t kOutboxes = 6;
        std::vector<std::unique_ptr<UnixPair>> pairs;
        std::vector<std::shared_ptr<Outbox>> outboxes;
        for (size_t i = 0; i < kOutboxes; ++i) {
            pairs.push_back(std::make_unique<UnixPair>());
            outboxes.push_back((i % 2 == 0 ? one : two).attach(pairs.back()->writer, 1 << 20));
        }
        {
            SendBatch batch;
            for (size_t round = 0; round < 2; ++round)
                for (size_t i = 0; i < kOutboxes; ++i)
                    outboxes[i]->send(frame(Opcode::Text, std::to_string(i) + "." + std::to_string(round)),
                                      batch);
        }
        for (size_t i = 0; i < kOutboxes; ++i) {
            auto got = readFrames(pairs[i]->reader, 2);
            REQUIRE(got.size() == 2);
            CHECK(got[0].payload == std::to_string(i) + ".0");
            CHECK(got[1].payload == std::to_string(i) + ".1");
        }
        // Each Sender wrote its own three outboxes' frames (counted once the write returned: before
        // any detach, which makes a write in progress go uncounted).
        CHECK(waitFor([&] {
            return one.stats().framesWritten == kOutboxes && two.stats().framesWritten == kOutboxes;
        }));
        for (auto& outbox : outboxes) outbox->detach();
    }

    TEST_CASE("a batch flushed after its Sender stopped drops its frames; the outbox answers Closed") {
        auto sender = std::make_unique<Sender>();
        UnixPair pair;
        auto outbox = sender->attach(pair.writer, 1 << 20);
        SendBatch batch;
        CHECK(outbox->send(frame(Opcode::Text, "never"), batch) == SendResult::Queued);
        sender.reset();
        batch.flush();
        CHECK(outbox->send(frame(Opcode::Text, "after")) == SendResult::Closed);
        pollfd readable{pair.reader, POLLIN, 0};
        CHECK(::poll(&readable, 1, 0) == 0);
        outbox->detach();
    }

    TEST_CASE("flushHere writes each outbox's held frames on the calling thread, one sendmsg each") {
        Sender sender;
        constexpr size_t kOutboxes = 3;
        AttachedPairs attached(sender, kOutboxes);
        auto& [pairs, outboxes] = attached;
        SendBatch batch;
        CHECK(sendRounds(outboxes, 5, batch));
        // A sendNow into a held outbox queues behind what it holds.
        CHECK(outboxes[0]->sendNow(frame(Opcode::Text, "0.last")) == SendResult::Queued);
        CHECK(!batch.empty());
        CHECK(sender.stats().writeCalls == 0);
        batch.flushHere();
        CHECK(batch.empty());
        // Counted before flushHere returned: written here, not by the Sender's thread.
        CHECK(sender.stats().writeCalls == kOutboxes);
        CHECK(sender.stats().framesWritten == 5 * kOutboxes + 1);
        for (size_t i = 0; i < kOutboxes; ++i) {
            CHECK(outboxes[i]->queuedBytes() == 0);
            auto got = readFrames(pairs[i]->reader, i == 0 ? 6 : 5);
            REQUIRE(got.size() == (i == 0 ? 6u : 5u));
            for (size_t round = 0; round < 5; ++round)
                CHECK(got[round].payload == std::to_string(i) + "." + std::to_string(round));
        }
        // Idle again: the next sendNow writes at once.
        CHECK(outboxes[1]->sendNow(frame(Opcode::Text, "again")) == SendResult::Queued);
        CHECK(sender.stats().writeCalls == kOutboxes + 1);
        for (auto& outbox : outboxes) outbox->detach();
    }

    TEST_CASE(
        "flushHere leaves an outbox closed meanwhile, and what a full socket cannot take, to the Sender") {
        Sender sender;
        UnixPair closing, full;
        auto closed = sender.attach(closing.writer, 1 << 20);
        auto big = sender.attach(full.writer, 64 << 20);
        SendBatch batch;
        closed->send(frame(Opcode::Text, "before the close"), batch);
        closed->close(1000, "bye");
        big->send(frame(Opcode::Binary, std::string(4 << 20, 'B')), batch);
        big->send(frame(Opcode::Text, "after the big one"), batch);
        batch.flushHere();
        auto got = readFrames(closing.reader, 2);
        REQUIRE(got.size() == 2);
        CHECK(got[0].payload == "before the close");
        CHECK(got[1].opcode == uint8_t(Opcode::Close));
        auto rest = readFrames(full.reader, 2);  // a unix socket buffer holds far less than 4 MiB
        REQUIRE(rest.size() == 2);
        CHECK(rest[0].payload.size() == size_t(4 << 20));
        CHECK(rest[1].payload == "after the big one");
        closed->detach();
        big->detach();
    }

    TEST_CASE("sendNow writes an idle outbox on the calling thread") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 1 << 20);
        CHECK(outbox->sendNow(frame(Opcode::Text, "now")) == SendResult::Queued);
        // Counted before sendNow returned: the write did not wait for the Sender's thread.
        CHECK(sender.stats().framesWritten == 1);
        CHECK(outbox->queuedBytes() == 0);
        auto got = readFrames(pair.reader, 1);
        REQUIRE(got.size() == 1);
        CHECK(got[0].payload == "now");
        outbox->detach();
    }

    TEST_CASE("sendNow into a socket that cannot take it all leaves the rest, in order, to the Sender") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 64 << 20);
        CHECK(outbox->sendNow(frame(Opcode::Binary, std::string(4 << 20, 'B'))) == SendResult::Queued);
        CHECK(outbox->queuedBytes() > 0);  // a unix socket buffer holds far less than 4 MiB
        for (int i = 0; i < 100; ++i) outbox->sendNow(frame(Opcode::Text, "after" + std::to_string(i)));
        auto got = readFrames(pair.reader, 101);
        REQUIRE(got.size() == 101);
        CHECK(got[0].payload.size() == size_t(4 << 20));
        for (int i = 0; i < 100; ++i) CHECK(got[size_t(i) + 1].payload == "after" + std::to_string(i));
        outbox->detach();
    }

    TEST_CASE("send, sendNow and close from several threads: every frame whole, each thread's in order") {
        for (int round = 0; round < 5; ++round) {
            Sender sender;
            TcpPair pair;
            auto outbox = sender.attach(pair.server, 64 << 20);
            constexpr int kThreads = 3, kFrames = 3000;
            std::vector<ServerFrame> got;
            std::thread reader([&] { got = readFrames(pair.client, kThreads * kFrames + 1); });
            std::vector<std::thread> writers;
            for (int t = 0; t < kThreads; ++t)
                writers.emplace_back([&, t] {
                    for (int i = 0; i < kFrames; ++i) {
                        auto f = frame(Opcode::Text, std::to_string(t) + ":" + std::to_string(i));
                        if (i % 2)
                            outbox->sendNow(f);
                        else
                            outbox->send(f);
                    }
                });
            for (auto& w : writers) w.join();
            outbox->close(1000, "done");
            reader.join();
            REQUIRE(got.size() == size_t(kThreads * kFrames + 1));
            std::vector<int> next(kThreads, 0);
            for (size_t i = 0; i + 1 < got.size(); ++i) {
                auto colon = got[i].payload.find(':');
                REQUIRE(colon != std::string::npos);
                int t = std::stoi(got[i].payload.substr(0, colon));
                CHECK(std::stoi(got[i].payload.substr(colon + 1)) == next[size_t(t)]++);
            }
            CHECK(got.back().opcode == 8);  // the Close comes last
            outbox->detach();
        }
    }

    TEST_CASE("an outbox that outlives its Sender answers Closed") {
        auto sender = std::make_unique<Sender>();
        UnixPair pair;
        auto outbox = sender->attach(pair.writer, 1024);
        sender.reset();
        CHECK(outbox->send(frame(Opcode::Text, "late")) == SendResult::Closed);
        outbox->close(1000, "");
        outbox->detach();
    }

    TEST_CASE("dropping the outbox handle detaches it") {
        Sender sender;
        UnixPair pair;
        auto outbox = sender.attach(pair.writer, 1 << 20);
        outbox->send(frame(Opcode::Text, "x"));
        outbox.reset();  // must not hang or leave the Sender holding the fd
        auto other = sender.attach(pair.writer, 1 << 20);
        CHECK(other->send(frame(Opcode::Text, "y")) == SendResult::Queued);
        auto got = readFrames(pair.reader, 1);
        REQUIRE(!got.empty());
        CHECK((got.back().payload == "x" || got.back().payload == "y"));
    }
}

}  // namespace
}  // namespace partyline::net
