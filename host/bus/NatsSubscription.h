// NatsSubscription: one asynchronous core natsSubscription, and the promise of
// Bus.h that no handler runs after the destructor returns.
//
// It provides the subscription that NatsBus builds its live delivery, its
// acknowledgements and its read answers on. It must not know what the
// messages mean (the handler decodes them), nor let a handler run once the
// destructor has returned, nor deadlock when a handler destroys its own
// subscription.
#pragma once

#include <nats/nats.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bus/Bus.h"
#include "bus/NatsHandles.h"
#include "core/Status.h"

namespace partyline {

// nats.c may still be inside (or about to enter) the handler when another
// thread unsubscribes, so the handler's state lives in a Gate shared with
// nats.c: the destructor closes the gate and waits for a running handler;
// nats.c's completion callback frees its share once it will never call again.
class NatsSubscription final : public Subscription {
   public:
    // Called on a NATS delivery thread; the message is destroyed after it returns.
    using Handler = std::function<void(natsMsg*)>;

    // Subscribes `nc` to `subject` with the given pending limits (beyond them
    // nats.c drops messages and reports a slow consumer).
    static Result<std::unique_ptr<NatsSubscription>> create(natsConnection* nc, const std::string& subject,
                                                            int pendingMsgs, int pendingBytes,
                                                            Handler handler);
    // Any thread, the handler's own included: returns once no handler runs or
    // will run, except the one calling it.
    ~NatsSubscription() override;

    // Inside a handler: true when more messages of the same subscription are queued behind the
    // one being handled (nats.c has read them already), so a burst is under way; false anywhere
    // else.
    static bool moreQueued();

   private:
    struct Gate {
        std::mutex mutex;
        std::condition_variable idle;
        bool closed = false;
        std::thread::id delivering;  // the thread inside the handler, if any
        Handler handler;
    };

    NatsSubscription() = default;

    // Thread: a NATS delivery thread (one per subscription at a time).
    static void onMessage(natsConnection* nc, natsSubscription* sub, natsMsg* msg, void* closure);
    // Thread: a NATS delivery thread, once, after the last onMessage.
    static void onComplete(void* closure);

    std::shared_ptr<Gate> gate_;
    SubscriptionPtr sub_;
};

}  // namespace partyline
