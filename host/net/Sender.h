// Sender: one thread that writes encoded frames to many non-blocking sockets.
//
// Provides an Outbox per connection: a bounded queue any thread may add frames to without blocking,
// drained by the Sender's epoll thread with batched sendmsg calls. A client that stops reading fills
// its own outbox only; past the limit it is closed with 1013 and nobody else waits for it.
// Must not: block a caller, hold a lock while writing other than the one outbox's state lock (and
// that one not across the system call), touch a socket after its owner detached it, let two threads
// write one socket at once (sendNow writes only an idle outbox, and the Sender waits for it), or
// copy a frame per recipient (frames are shared, encoded once).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace partyline {
class Metrics;
}

namespace partyline::net {

using FramePtr = std::shared_ptr<const std::string>;  // an encoded frame, shared by all recipients

enum class SendResult {
    Queued,  // the frame will be written
    Slow,    // over the limit: frames not yet started are dropped and the connection is being closed 1013
    Closed,  // the outbox is closing or closed: the frame is dropped
};

class Outbox;
class SendBatch;

class Sender {
   public:
    // Starts the writer thread.
    Sender();
    // Stops and joins the writer thread. Outboxes that outlive it answer Closed.
    ~Sender();
    Sender(const Sender&) = delete;
    Sender& operator=(const Sender&) = delete;

    // Any thread. `fd` is a connected stream socket that the caller owns and keeps open until it
    // has called Outbox::detach(). `limitBytes` bounds the bytes queued and not yet written.
    std::shared_ptr<Outbox> attach(int fd, size_t limitBytes);
    // As attach(), with `first` queued and held: nothing is written, by any thread, until
    // Outbox::release() (or a close), and the limit does not apply meanwhile. Lets the owner
    // queue a handshake's answer, make the connection known where frames come from, and only
    // then let the peer learn it is open.
    std::shared_ptr<Outbox> attachHeld(int fd, size_t limitBytes, FramePtr first);

    struct Stats {
        uint64_t framesWritten = 0;  // frames written completely
        uint64_t bytesWritten = 0;
        uint64_t writeCalls = 0;  // sendmsg calls that wrote something: frames/calls shows batching
        uint64_t slowCloses = 0;  // outboxes closed 1013 for being over their limit
    };
    // Any thread.
    Stats stats() const;
    // Any thread: the stats as metrics.
    void writeMetrics(Metrics& out) const;

    struct Core;  // shared with the outboxes, so an outbox never points at a destroyed Sender

   private:
    std::shared_ptr<Core> core_;
    std::thread thread_;
};

// One connection's bounded send queue. Created by Sender::attach.
class Outbox {
   public:
    // Detaches (see detach()): the Sender never touches the fd after its handle is gone.
    ~Outbox();
    Outbox(const Outbox&) = delete;
    Outbox& operator=(const Outbox&) = delete;

    // Any thread; never blocks on the socket. Queues the frame after those already queued (an empty
    // frame is ignored). Slow once the queue holds bytes and this frame would take it past the limit.
    SendResult send(FramePtr frame);
    // As send(), but an outbox that needs the Sender's thread is handed to it with the rest of
    // `batch` when the batch is flushed, not at once: a fan-out wakes the thread once.
    SendResult send(FramePtr frame, SendBatch& batch);
    // Any thread. As send(), but when nothing is queued or being written the frame is written at
    // once on the calling thread, with one non-blocking sendmsg (no wake-up of the Sender's
    // thread); whatever that leaves unwritten goes to the Sender's thread.
    SendResult sendNow(FramePtr frame);

    // Any thread. Ends the hold of attachHeld(): what is queued is written, at once on the
    // calling thread when it can be (as sendNow). Does nothing on an outbox not held.
    void release();

    // Any thread. Queues a Close frame after what is queued. Once it is written, shuts the socket
    // down for writing (SHUT_WR: the client reads the Close, then the end of the stream, and what it
    // still sends is left to the reader, not answered with a reset); if the client does not read,
    // shuts it down entirely (SHUT_RDWR) after a grace of 2 s at most. Later sends answer Closed.
    // Only the first close (or slow-consumer close) counts.
    void close(uint16_t code, std::string_view reason);

    // The thread that owns the fd, before it closes the fd. Waits for a write in progress; afterwards
    // the Sender never touches the fd again (not even to shut it down), and sends answer Closed.
    void detach();

    // Any thread. True once the outbox accepts no more frames: closing, closed, slow, failed, detached.
    bool closed() const;
    // Any thread. Bytes queued and not yet written to the socket.
    size_t queuedBytes() const;

    struct CloseInfo {
        uint16_t code;
        std::string reason;
    };
    // Any thread. The Close this side queued (by close() or as a slow consumer), if any: lets the
    // reader report why the server ended the connection.
    std::optional<CloseInfo> localClose() const;

    struct State;  // shared with the Sender's thread

   private:
    friend class Sender;
    explicit Outbox(std::shared_ptr<State> state);
    SendResult queue(FramePtr frame, SendBatch* batch);
    std::shared_ptr<State> state_;
};

// The outboxes that send(frame, batch) gave frames to and that wait for the Sender's thread,
// handed to it together by flush() (or the destructor): one lock of its ready list and at most
// one wake-up for the whole fan-out, where one send per recipient can wake the thread again
// each time it has drained what came before. Used by one thread; frames wait in their outboxes
// until the flush, so flush before anything that waits.
class SendBatch {
   public:
    SendBatch() = default;
    ~SendBatch() { flush(); }
    SendBatch(const SendBatch&) = delete;
    SendBatch& operator=(const SendBatch&) = delete;

    void flush();
    // Instead of flush(): writes each outbox's queue on the calling thread, as sendNow does, one
    // sendmsg for all its frames; what that leaves, or an outbox closing meanwhile, goes to the
    // Sender's thread. For a few outboxes whose frames were held back for a burst's end.
    void flushHere();
    bool empty() const { return states_.empty(); }

   private:
    friend class Outbox;
    void add(const std::shared_ptr<Outbox::State>& state);

    std::shared_ptr<Sender::Core> core_;  // the Sender of the outboxes in `states_`
    std::vector<std::shared_ptr<Outbox::State>> states_;
};

}  // namespace partyline::net
