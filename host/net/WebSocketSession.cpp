#include "net/WebSocketSession.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <optional>
#include <vector>

#include "net/WebSocketProtocol.h"

namespace partyline::net {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// `stopping` and the ping timers are looked at least this often.
constexpr milliseconds kMaxPollWait{1000};
// After a Close, how long to wait for the Sender to write it and shut the socket down: its grace
// (2 s) plus a margin, so the wait normally ends by the shutdown and not by this.
constexpr milliseconds kCloseWait{3000};
constexpr size_t kReadBufferBytes = 16 * 1024;

// One session's state, on the session's thread only.
class Session {
   public:
    Session(int fd, Outbox& outbox, SessionHandler& handler, const SessionLimits& limits,
            const std::atomic<bool>& stopping)
        : fd_(fd),
          outbox_(outbox),
          handler_(handler),
          limits_(limits),
          stopping_(stopping),
          reader_(limits.maxMessageBytes),
          lastByte_(Clock::now()) {}

    void run(std::string_view alreadyBuffered) {
        if (!alreadyBuffered.empty()) feed(alreadyBuffered);
        while (phase_ != Phase::Done) {
            auto now = Clock::now();
            if (phase_ == Phase::Open) checkOpen(now);
            if (phase_ == Phase::Closing && now >= closeDeadline_) phase_ = Phase::Done;
            if (phase_ == Phase::Done) break;
            pollfd pfd{fd_, POLLIN, 0};
            int ready = ::poll(&pfd, 1, int(waitFor(now).count()));
            if (ready > 0) readAvailable();
        }
        // Only now may the owner close the fd: the Sender must have let go of it first.
        outbox_.detach();
        if (!code_) setResultFromOutbox();
        if (!code_) setResult(close_code::Abnormal, "connection lost");
        handler_.onClosed(code_, reason_);
    }

   private:
    enum class Phase { Open, Closing, Done };

    void checkOpen(Clock::time_point now) {
        if (outbox_.closed()) {  // the room closed the connection, or it is a slow consumer
            setResultFromOutbox();
            return enterClosing();
        }
        if (stopping_.load(std::memory_order_relaxed)) {
            return startClose(close_code::GoingAway, "server shutting down");
        }
        auto silence = now - lastByte_;
        if (silence >= limits_.pingTimeout) {
            // Half-open: nothing arrives, so nothing sent would be read either. Close locally.
            setResult(close_code::Abnormal, "ping timeout");
            phase_ = Phase::Done;
        } else if (silence >= limits_.pingInterval && !pingSent_) {
            outbox_.send(std::make_shared<const std::string>(encodeFrame(Opcode::Ping, {})));
            pingSent_ = true;
        }
    }

    milliseconds waitFor(Clock::time_point now) const {
        Clock::time_point next = now + kMaxPollWait;
        if (phase_ == Phase::Closing) next = std::min(next, closeDeadline_);
        if (phase_ == Phase::Open) {
            next = std::min(next, lastByte_ + limits_.pingTimeout);
            if (!pingSent_) next = std::min(next, lastByte_ + limits_.pingInterval);
        }
        return std::clamp(std::chrono::ceil<milliseconds>(next - now), milliseconds(0), kMaxPollWait);
    }

    void readAvailable() {
        char buffer[kReadBufferBytes];
        while (phase_ != Phase::Done) {
            ssize_t n = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
            if (n > 0) {
                lastByte_ = Clock::now();
                pingSent_ = false;
                feed(std::string_view(buffer, size_t(n)));
                if (size_t(n) < sizeof buffer) return;  // most likely drained: skip the EAGAIN call
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            phase_ = Phase::Done;  // end of stream (the Sender's shutdown ends up here too) or an error
        }
    }

    void feed(std::string_view bytes) {
        events_.clear();
        reader_.feed(bytes, events_);
        for (auto& event : events_) handle(event);
    }

    void handle(FrameReader::Event& event) {
        using Kind = FrameReader::Event::Kind;
        if (phase_ != Phase::Open) return;  // after a Close, only the end of the stream matters
        switch (event.kind) {
            case Kind::Message:
                return handler_.onMessage(std::move(event.payload), event.binary);
            case Kind::Ping:
                outbox_.send(std::make_shared<const std::string>(encodeFrame(Opcode::Pong, event.payload)));
                return;
            case Kind::Pong:
                return;  // any byte already counted as a sign of life
            case Kind::Close:
                setResultFromOutbox();  // this side may have closed first, unnoticed until now
                setResult(event.code, event.reason);
                outbox_.close(event.code, {});  // the echo; 1005 encodes as an empty Close
                return enterClosing();
            case Kind::ProtocolError:
                setResultFromOutbox();
                return startClose(event.code, event.reason);
        }
    }

    void startClose(uint16_t code, std::string_view reason) {
        setResult(code, reason);
        outbox_.close(code, reason);
        enterClosing();
    }

    void enterClosing() {
        phase_ = Phase::Closing;
        closeDeadline_ = Clock::now() + kCloseWait;
    }

    void setResultFromOutbox() {
        if (auto local = outbox_.localClose()) setResult(local->code, local->reason);
    }

    // The first cause wins: later ones are consequences of it.
    void setResult(uint16_t code, std::string_view reason) {
        if (code_) return;
        code_ = code;
        reason_ = reason;
    }

    const int fd_;
    Outbox& outbox_;
    SessionHandler& handler_;
    const SessionLimits limits_;
    const std::atomic<bool>& stopping_;

    FrameReader reader_;
    std::vector<FrameReader::Event> events_;
    Phase phase_ = Phase::Open;
    Clock::time_point lastByte_;
    bool pingSent_ = false;  // since the last byte arrived
    Clock::time_point closeDeadline_;
    uint16_t code_ = 0;  // 0: no result yet
    std::string reason_;
};

}  // namespace

void runWebSocketSession(int fd, std::string_view alreadyBuffered, Outbox& outbox, SessionHandler& handler,
                         const SessionLimits& limits, const std::atomic<bool>& stopping) {
    Session(fd, outbox, handler, limits, stopping).run(alreadyBuffered);
}

}  // namespace partyline::net
