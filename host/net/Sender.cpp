#include "net/Sender.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/Log.h"
#include "core/Metrics.h"
#include "core/ThreadName.h"
#include "net/WebSocketProtocol.h"

namespace partyline::net {
namespace {

using Clock = std::chrono::steady_clock;

// A client that does not read gets this long to take its Close frame before the socket is shut.
constexpr auto kCloseGrace = std::chrono::seconds(2);
// Frames per sendmsg: enough to batch a burst of small messages, far below IOV_MAX (1024).
constexpr size_t kMaxIov = 64;
// Bytes written to one outbox before the others get a turn, so one fast reader cannot starve them.
constexpr size_t kVisitBudgetBytes = 256 * 1024;
constexpr int kMaxEvents = 128;

// A FIFO of frames that keeps its storage between bursts, so queueing a frame allocates nothing
// once the ring has grown to the connection's usual backlog.
class FrameRing {
   public:
    bool empty() const { return count_ == 0; }
    size_t size() const { return count_; }
    const FramePtr& at(size_t i) const { return slots_[(head_ + i) % slots_.size()]; }
    const FramePtr& front() const { return at(0); }

    void push(FramePtr frame) {
        if (count_ == slots_.size()) grow();
        slots_[(head_ + count_) % slots_.size()] = std::move(frame);
        ++count_;
    }
    void pop() {
        slots_[head_].reset();
        head_ = (head_ + 1) % slots_.size();
        --count_;
    }
    // Keeps the first `keep` frames and releases the others.
    void truncate(size_t keep) {
        while (count_ > keep) {
            slots_[(head_ + count_ - 1) % slots_.size()].reset();
            --count_;
        }
    }
    void clear() { truncate(0); }

   private:
    void grow() {
        std::vector<FramePtr> bigger(slots_.empty() ? 8 : slots_.size() * 2);
        for (size_t i = 0; i < count_; ++i) bigger[i] = std::move(slots_[(head_ + i) % slots_.size()]);
        slots_ = std::move(bigger);
        head_ = 0;
    }

    std::vector<FramePtr> slots_;
    size_t head_ = 0;
    size_t count_ = 0;
};

}  // namespace

// Shared by the Sender, its thread and every outbox, so an outbox that outlives the Sender still
// points at live file descriptors and a valid ready list.
struct Sender::Core {
    int epollFd = -1;
    int wakeFd = -1;  // eventfd: wakes the thread when the ready list stops being empty
    std::atomic<bool> stopped{false};

    std::mutex readyMutex;
    std::vector<std::shared_ptr<Outbox::State>> ready;  // outboxes with something to do

    std::atomic<uint64_t> framesWritten{0}, bytesWritten{0}, writeCalls{0}, slowCloses{0};

    ~Core() {
        if (epollFd >= 0) ::close(epollFd);
        if (wakeFd >= 0) ::close(wakeFd);
    }

    // Any thread. False when the Sender has stopped and nothing will write any more.
    bool schedule(std::shared_ptr<Outbox::State> state) {
        bool wasEmpty;
        {
            std::lock_guard lock(readyMutex);
            if (stopped.load()) return false;
            wasEmpty = ready.empty();
            ready.push_back(std::move(state));
        }
        // The thread takes the whole list at once, so only the first addition needs to wake it.
        if (wasEmpty) wake();
        return true;
    }

    // Any thread: schedule() for each of `states`, which it empties, under one lock.
    void scheduleAll(std::vector<std::shared_ptr<Outbox::State>>& states) {
        bool wasEmpty;
        {
            std::lock_guard lock(readyMutex);
            if (stopped.load()) return states.clear();  // nothing writes any more: frames are dropped
            wasEmpty = ready.empty();
            if (wasEmpty)
                ready.swap(states);
            else
                ready.insert(ready.end(), std::make_move_iterator(states.begin()),
                             std::make_move_iterator(states.end()));
        }
        states.clear();
        if (wasEmpty) wake();
    }

    void wake() {
        uint64_t one = 1;
        ssize_t ignored = ::write(wakeFd, &one, sizeof one);
        (void)ignored;
    }
};

// Everything below is guarded by `mutex`, except the constants.
struct Outbox::State {
    State(std::shared_ptr<Sender::Core> c, int f, size_t l) : core(std::move(c)), fd(f), limit(l) {}

    const std::shared_ptr<Sender::Core> core;
    const int fd;
    const size_t limit;

    mutable std::mutex mutex;
    std::condition_variable writeDone;  // detach() waits on it for a write in progress

    FrameRing queue;
    size_t headOffset = 0;  // bytes of the front frame already written
    size_t queued = 0;      // bytes in `queue` not yet written

    bool scheduled = false;  // the writer thread will visit: on the ready list, writing, or armed
    bool writing =
        false;  // a thread (the writer, or a sender in sendNow) is in sendmsg on fd, without the lock
    bool accepting = true;     // send() queues frames
    bool slowPending = false;  // over the limit: the writer thread drops frames and queues 1013
    bool closing = false;      // the last frame in `queue` is a Close; shut down once it is written
    bool shutDown = false;     // shutdown() done, or the socket failed: nothing more to write
    bool detached = false;     // the owner may close fd at any time: never touch it
    bool registered = false;   // fd is in the writer's epoll set
    bool timerSet = false;     // the writer thread knows `deadline`
    bool held = false;         // attachHeld(): `scheduled` without being on the ready list, until release()
    Clock::time_point deadline;
    std::optional<CloseInfo> localClose;
};

namespace {

// The queued frames, from the unwritten part of the first, as one sendmsg's vector. Mutex held.
size_t gather(const Outbox::State& s, iovec* iov) {
    size_t count = std::min(s.queue.size(), kMaxIov);
    for (size_t i = 0; i < count; ++i) {
        const std::string& frame = *s.queue.at(i);
        size_t skip = i == 0 ? s.headOffset : 0;
        iov[i].iov_base = const_cast<char*>(frame.data() + skip);
        iov[i].iov_len = frame.size() - skip;
    }
    return count;
}

// Drops the `n` bytes a sendmsg wrote from the front of the queue. Mutex held.
void consume(Outbox::State& s, size_t n) {
    s.queued -= n;
    s.core->bytesWritten.fetch_add(n, std::memory_order_relaxed);
    uint64_t frames = 0;
    while (n > 0) {
        size_t rest = s.queue.front()->size() - s.headOffset;
        if (n < rest) {
            s.headOffset += n;
            break;
        }
        n -= rest;
        s.headOffset = 0;
        s.queue.pop();
        ++frames;
    }
    s.core->framesWritten.fetch_add(frames, std::memory_order_relaxed);
    s.core->writeCalls.fetch_add(1, std::memory_order_relaxed);
}

// One sendmsg of what is queued, made without the lock (`writing` keeps every other writer of
// the socket away meanwhile); the lock is held again on return. `err` is sendmsg's errno.
ssize_t writeQueued(Outbox::State& s, std::unique_lock<std::mutex>& lock, int& err) {
    iovec iov[kMaxIov];
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = gather(s, iov);
    s.writing = true;
    lock.unlock();
    ssize_t n = ::sendmsg(s.fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    err = errno;
    lock.lock();
    s.writing = false;
    return n;
}

// One write of the queue on a caller's thread (sendNow, release), the outbox scheduled and no
// other thread writing. True when that settled it; false when the writer thread must take over
// (a short write, a full socket, an error, or a Close or slow-consumer stop that came meanwhile).
bool writeHere(Outbox::State& s, std::unique_lock<std::mutex>& lock) {
    int err = 0;
    ssize_t n = writeQueued(s, lock, err);
    if (s.detached) {
        s.writeDone.notify_all();
        return true;
    }
    if (n > 0) consume(s, size_t(n));
    if (s.queue.empty() && !s.closing && !s.slowPending) {
        s.scheduled = false;
        return true;
    }
    return false;
}

// The same for an outbox whose frames were held back from the writer thread (release(), the end
// of a SendBatch's hold), unless a close, a slow-consumer stop or a detach since handed its queue
// to the writer. True when that settled it; false when the writer thread must be told.
bool writeHeldHere(Outbox::State& s, std::unique_lock<std::mutex>& lock) {
    const bool handedOver = !s.accepting || s.writing || s.core->stopped.load(std::memory_order_relaxed);
    return !handedOver && writeHere(s, lock);
}

// The Sender's thread. Every member is touched only by that thread.
class Writer {
   public:
    explicit Writer(Sender::Core& core) : core_(core) {}

    void run() {
        epoll_event events[kMaxEvents];
        for (;;) {
            int n = ::epoll_wait(core_.epollFd, events, kMaxEvents, waitTimeoutMs());
            if (n < 0 && errno != EINTR) {
                log::error("net.sender", std::string("epoll_wait failed: ") + std::strerror(errno));
                return;
            }
            for (int i = 0; i < n; ++i) onEvent(events[i]);
            again_.swap(retry_);  // last round's over-budget outboxes go after this round's new work
            {
                std::lock_guard lock(core_.readyMutex);
                if (core_.stopped.load()) return;
                taken_.swap(core_.ready);  // both vectors keep their capacity
            }
            for (auto& state : taken_) visit(std::move(state));
            taken_.clear();
            for (auto& state : retry_) visit(std::move(state));
            retry_.clear();
            expireTimers();
        }
    }

   private:
    int waitTimeoutMs() const {
        if (!again_.empty()) return 0;
        if (timers_.empty()) return -1;
        auto next = timers_.front().first;
        for (auto& [deadline, state] : timers_) next = std::min(next, deadline);
        auto wait = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now()).count();
        return int(std::max<int64_t>(wait, 0));
    }

    void onEvent(const epoll_event& event) {
        if (event.data.ptr == nullptr) {
            uint64_t count;
            ssize_t ignored = ::read(core_.wakeFd, &count, sizeof count);
            (void)ignored;
            return;
        }
        // An event may name an outbox detached since: only ones still in the map are live.
        auto it = registered_.find(static_cast<Outbox::State*>(event.data.ptr));
        if (it != registered_.end()) visit(it->second);
    }

    // Writes what one outbox has queued, up to the budget. Takes the state by value: forget() may
    // erase the map entry the caller's reference lives in.
    void visit(std::shared_ptr<Outbox::State> ptr) {
        Outbox::State& s = *ptr;
        std::unique_lock lock(s.mutex);
        size_t written = 0;
        for (;;) {
            if (s.detached) return forget(ptr, s);
            // A sendNow is writing: it hands what is left back to this thread when it is done.
            if (s.writing) return;
            if (s.slowPending) closeSlow(s);
            if (s.closing && !s.timerSet) {
                timers_.emplace_back(s.deadline, ptr);
                s.timerSet = true;
            }
            if (s.shutDown) return dropQueue(s), void(s.scheduled = false);
            if (s.queue.empty()) {
                // The Close frame, always last, is written: the end of the stream follows it. Only
                // writing is shut: data the client still sends (its own Close) reaching a socket shut
                // for reading makes the kernel answer with a reset, which throws away what it has
                // not delivered yet, this Close included. The reader drops that data instead.
                if (s.closing) shutDown(s, SHUT_WR);
                s.scheduled = false;
                return;
            }
            int err = 0;
            ssize_t n = writeQueued(s, lock, err);
            if (s.detached) {
                s.writeDone.notify_all();
                return forget(ptr, s);
            }
            if (n < 0 && err == EINTR) continue;
            if (n == 0 || (n < 0 && (err == EAGAIN || err == EWOULDBLOCK))) return arm(ptr, s);
            if (n < 0) return fail(s, err);
            consume(s, size_t(n));
            written += size_t(n);
            if (written >= kVisitBudgetBytes && !s.queue.empty()) {
                again_.push_back(std::move(ptr));  // stays scheduled; others get a turn first
                return;
            }
        }
    }

    // Drops every frame not yet started (a half-written one must finish, or the client would read
    // garbage as a frame header), then queues the 1013 Close.
    void closeSlow(Outbox::State& s) {
        s.queue.truncate(s.headOffset > 0 ? 1 : 0);
        s.queued = s.queue.empty() ? 0 : s.queue.front()->size() - s.headOffset;
        const std::string& reason = s.localClose->reason;
        auto frame = std::make_shared<const std::string>(encodeCloseFrame(close_code::TryAgainLater, reason));
        s.queued += frame->size();
        s.queue.push(std::move(frame));
        s.slowPending = false;
        s.closing = true;
        s.deadline = Clock::now() + kCloseGrace;
        log::info("net.sender", "closing slow consumer fd=" + std::to_string(s.fd) + " code=1013 " + reason);
    }

    void arm(const std::shared_ptr<Outbox::State>& ptr, Outbox::State& s) {
        epoll_event event{};
        event.events = EPOLLOUT | EPOLLONESHOT;
        event.data.ptr = &s;
        int op = s.registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
        if (::epoll_ctl(core_.epollFd, op, s.fd, &event) != 0) return fail(s, errno);
        if (!s.registered) registered_.emplace(&s, ptr);
        s.registered = true;  // stays scheduled until EPOLLOUT
    }

    // `how`: SHUT_WR after a written Close; SHUT_RDWR to give up on the connection, which also wakes
    // its reader with the end of the stream.
    void shutDown(Outbox::State& s, int how) {
        if (!s.shutDown) ::shutdown(s.fd, how);
        s.shutDown = true;
    }

    static void dropQueue(Outbox::State& s) {
        s.queue.clear();
        s.queued = 0;
        s.headOffset = 0;
    }

    void fail(Outbox::State& s, int err) {
        log::debug("net.sender", "write failed fd=" + std::to_string(s.fd) + ": " + std::strerror(err));
        s.accepting = false;
        dropQueue(s);
        shutDown(s, SHUT_RDWR);  // wakes the connection's reader, which then ends the session
        s.scheduled = false;
    }

    void forget(const std::shared_ptr<Outbox::State>& ptr, Outbox::State& s) {
        s.scheduled = false;
        registered_.erase(ptr.get());
    }

    void expireTimers() {
        auto now = Clock::now();
        for (size_t i = 0; i < timers_.size();) {
            if (timers_[i].first > now) {
                ++i;
                continue;
            }
            Outbox::State& s = *timers_[i].second;
            {
                std::lock_guard lock(s.mutex);
                if (!s.detached && !s.shutDown) {
                    shutDown(s, SHUT_RDWR);  // the grace is over: the client did not take its Close
                    dropQueue(s);
                }
            }
            timers_[i] = std::move(timers_.back());
            timers_.pop_back();
        }
    }

    Sender::Core& core_;
    std::vector<std::shared_ptr<Outbox::State>> taken_;  // this round's share of the ready list
    std::vector<std::shared_ptr<Outbox::State>> again_;  // over budget: visit next round
    std::vector<std::shared_ptr<Outbox::State>> retry_;
    std::unordered_map<Outbox::State*, std::shared_ptr<Outbox::State>> registered_;     // in the epoll set
    std::vector<std::pair<Clock::time_point, std::shared_ptr<Outbox::State>>> timers_;  // close graces
};

}  // namespace

Sender::Sender() : core_(std::make_shared<Core>()) {
    core_->epollFd = ::epoll_create1(EPOLL_CLOEXEC);
    core_->wakeFd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.ptr = nullptr;
    if (core_->epollFd < 0 || core_->wakeFd < 0 ||
        ::epoll_ctl(core_->epollFd, EPOLL_CTL_ADD, core_->wakeFd, &event) != 0) {
        // Without its descriptors the Sender cannot write: every outbox will answer Closed.
        log::error("net.sender", std::string("cannot create epoll/eventfd: ") + std::strerror(errno));
        core_->stopped = true;
        return;
    }
    thread_ = std::thread([core = core_] {
        nameThisThread("pl-sender");
        Writer(*core).run();
    });
}

Sender::~Sender() {
    {
        std::lock_guard lock(core_->readyMutex);
        core_->stopped = true;
        core_->ready.clear();
    }
    core_->wake();
    if (thread_.joinable()) thread_.join();
}

std::shared_ptr<Outbox> Sender::attach(int fd, size_t limitBytes) {
    return std::shared_ptr<Outbox>(new Outbox(std::make_shared<Outbox::State>(core_, fd, limitBytes)));
}

std::shared_ptr<Outbox> Sender::attachHeld(int fd, size_t limitBytes, FramePtr first) {
    auto state = std::make_shared<Outbox::State>(core_, fd, limitBytes);
    if (first && !first->empty()) {
        state->queued = first->size();
        state->queue.push(std::move(first));
    }
    // Scheduled as far as send() and sendNow() can tell: they queue behind it and wake nobody.
    state->scheduled = true;
    state->held = true;
    return std::shared_ptr<Outbox>(new Outbox(std::move(state)));
}

Sender::Stats Sender::stats() const {
    Stats s;
    s.framesWritten = core_->framesWritten.load(std::memory_order_relaxed);
    s.bytesWritten = core_->bytesWritten.load(std::memory_order_relaxed);
    s.writeCalls = core_->writeCalls.load(std::memory_order_relaxed);
    s.slowCloses = core_->slowCloses.load(std::memory_order_relaxed);
    return s;
}

void Sender::writeMetrics(Metrics& out) const {
    Stats s = stats();
    out.counter("partyline_messages_out_total", "Frames written to clients: messages, pings and Closes.",
                s.framesWritten);
    out.counter("partyline_bytes_written_total", "Bytes written to clients.", s.bytesWritten);
    out.counter("partyline_slow_consumer_closes_total", "Clients closed 1013 for not reading.", s.slowCloses);
}

Outbox::Outbox(std::shared_ptr<State> state) : state_(std::move(state)) {}

Outbox::~Outbox() {
    detach();
}

SendResult Outbox::send(FramePtr frame) {
    return queue(std::move(frame), nullptr);
}

SendResult Outbox::send(FramePtr frame, SendBatch& batch) {
    return queue(std::move(frame), &batch);
}

SendResult Outbox::queue(FramePtr frame, SendBatch* batch) {
    State& s = *state_;
    if (!frame || frame->empty()) return SendResult::Queued;  // nothing to write
    if (s.core->stopped.load(std::memory_order_relaxed)) return SendResult::Closed;
    SendResult result = SendResult::Queued;
    bool wake = false;
    {
        std::lock_guard lock(s.mutex);
        if (!s.accepting) return SendResult::Closed;
        // A frame into an empty queue is always taken: one message bigger than the buffer is a
        // configuration problem, not a slow client. Nor is a held outbox slow: nothing could be
        // written yet, and a slow close would drop the held first frame (the handshake's answer).
        if (!s.held && s.queued > 0 && s.queued + frame->size() > s.limit) {
            s.accepting = false;
            s.slowPending = true;
            s.localClose = CloseInfo{close_code::TryAgainLater, "slow consumer: send buffer of " +
                                                                    std::to_string(s.limit) + " bytes full"};
            s.core->slowCloses.fetch_add(1, std::memory_order_relaxed);
            result = SendResult::Slow;
            wake = true;  // even if armed for EPOLLOUT: the writer must drop frames and start the grace
        } else {
            s.queued += frame->size();
            s.queue.push(std::move(frame));
            wake = !s.scheduled;
        }
        s.scheduled = true;
    }
    if (!wake) return result;
    if (batch != nullptr) {
        batch->add(state_);
        return result;
    }
    return s.core->schedule(state_) ? result : SendResult::Closed;
}

void SendBatch::add(const std::shared_ptr<Outbox::State>& state) {
    if (core_ != state->core) {
        flush();  // outboxes of another Sender: each list goes to its own thread
        core_ = state->core;
    }
    states_.push_back(state);
}

void SendBatch::flush() {
    if (states_.empty()) return;
    core_->scheduleAll(states_);
}

void SendBatch::flushHere() {
    for (auto& state : states_) {
        Outbox::State& s = *state;
        {
            std::unique_lock lock(s.mutex);
            if (writeHeldHere(s, lock)) continue;
        }
        s.core->schedule(state);
    }
    states_.clear();
}

SendResult Outbox::sendNow(FramePtr frame) {
    State& s = *state_;
    if (!frame || frame->empty()) return SendResult::Queued;
    {
        std::unique_lock lock(s.mutex);
        // Only into an idle outbox: anything queued, closing or being written goes the usual way.
        if (s.scheduled || !s.accepting || s.core->stopped.load(std::memory_order_relaxed)) {
            lock.unlock();
            return send(std::move(frame));
        }
        s.queued += frame->size();
        s.queue.push(std::move(frame));
        s.scheduled = true;  // what send() adds meanwhile waits behind this write
        if (writeHere(s, lock)) return SendResult::Queued;
    }
    // A short write, a full socket, an error, or frames, a Close or a slow-consumer stop that came
    // meanwhile: the writer thread takes over, as if send() had queued the frame.
    if (!s.core->schedule(state_)) return SendResult::Closed;
    return SendResult::Queued;
}

void Outbox::release() {
    State& s = *state_;
    {
        std::unique_lock lock(s.mutex);
        if (!s.held) return;
        s.held = false;
        if (writeHeldHere(s, lock)) return;
    }
    s.core->schedule(state_);
}

void Outbox::close(uint16_t code, std::string_view reason) {
    State& s = *state_;
    {
        std::lock_guard lock(s.mutex);
        if (!s.accepting) return;
        s.accepting = false;
        s.closing = true;
        s.deadline = Clock::now() + kCloseGrace;
        s.localClose = CloseInfo{code, std::string(reason)};
        auto frame = std::make_shared<const std::string>(encodeCloseFrame(code, reason));
        s.queued += frame->size();
        s.queue.push(std::move(frame));
        s.scheduled = true;
    }
    s.core->schedule(state_);  // even if armed: the writer must learn the deadline
}

void Outbox::detach() {
    State& s = *state_;
    {
        std::unique_lock lock(s.mutex);
        if (s.detached) return;
        s.detached = true;
        s.accepting = false;
        s.writeDone.wait(lock, [&] { return !s.writing; });
        if (s.registered) ::epoll_ctl(s.core->epollFd, EPOLL_CTL_DEL, s.fd, nullptr);
        s.registered = false;
        s.queue.clear();
        s.queued = 0;
        s.headOffset = 0;
    }
    s.core->schedule(state_);  // lets the writer drop its references to this outbox
}

bool Outbox::closed() const {
    std::lock_guard lock(state_->mutex);
    return !state_->accepting;
}

size_t Outbox::queuedBytes() const {
    std::lock_guard lock(state_->mutex);
    return state_->queued;
}

std::optional<Outbox::CloseInfo> Outbox::localClose() const {
    std::lock_guard lock(state_->mutex);
    return state_->localClose;
}

}  // namespace partyline::net
