#include "bus/NatsSubscription.h"

#include "bus/NatsError.h"
#include "core/ThreadName.h"

namespace partyline {

Result<std::unique_ptr<NatsSubscription>> NatsSubscription::create(natsConnection* nc,
                                                                   const std::string& subject,
                                                                   int pendingMsgs, int pendingBytes,
                                                                   Handler handler) {
    auto owned = std::unique_ptr<NatsSubscription>(new NatsSubscription());
    owned->gate_ = std::make_shared<Gate>();
    owned->gate_->handler = std::move(handler);
    // nats.c's share of the gate; onComplete deletes it.
    auto* closure = new std::shared_ptr<Gate>(owned->gate_);
    natsSubscription* raw = nullptr;
    natsStatus s = natsConnection_Subscribe(&raw, nc, subject.c_str(), onMessage, closure);
    if (s != NATS_OK) {
        delete closure;
        return natsFailure(s, "subscribe to " + subject);
    }
    owned->sub_.reset(raw);
    s = natsSubscription_SetOnCompleteCB(raw, onComplete, closure);
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(raw, pendingMsgs, pendingBytes);
    if (s != NATS_OK) {
        // The gate still keeps the handler out after the destructor; only
        // nats.c's small share may leak if the completion never comes.
        return natsFailure(s, "set up subscription to " + subject);
    }
    return owned;
}

NatsSubscription::~NatsSubscription() {
    Handler released;
    {
        std::unique_lock lock(gate_->mutex);
        gate_->closed = true;
        const auto self = std::this_thread::get_id();
        gate_->idle.wait(lock,
                         [&] { return gate_->delivering == std::thread::id() || gate_->delivering == self; });
        // Destroyed from inside its own handler: the handler is still running,
        // so it stays in the gate and goes with nats.c's share.
        if (gate_->delivering != self) released = std::move(gate_->handler);
    }
    if (sub_) natsSubscription_Unsubscribe(sub_.get());  // fails harmlessly once the connection is closed
}

namespace {
// The subscription whose handler runs on this thread, for moreQueued().
thread_local natsSubscription* handling = nullptr;
}  // namespace

bool NatsSubscription::moreQueued() {
    int msgs = 0;
    // nats.c counts a subscription's messages down before it calls the handler: what is left is
    // behind this one.
    return handling != nullptr && natsSubscription_GetPending(handling, &msgs, nullptr) == NATS_OK &&
           msgs > 0;
}

void NatsSubscription::onMessage(natsConnection*, natsSubscription* sub, natsMsg* msg, void* closure) {
    // nats.c's delivery pool starts its threads on the first subscription of each, from whatever
    // thread subscribes: they take their name here.
    thread_local bool named = false;
    if (!named) {
        nameThisThread("pl-nats-deliver");
        named = true;
    }
    MsgPtr owned(msg);
    Gate& gate = **static_cast<std::shared_ptr<Gate>*>(closure);
    {
        std::lock_guard lock(gate.mutex);
        if (gate.closed) return;
        gate.delivering = std::this_thread::get_id();
    }
    handling = sub;
    gate.handler(msg);
    handling = nullptr;
    {
        std::lock_guard lock(gate.mutex);
        gate.delivering = std::thread::id();
    }
    gate.idle.notify_all();
}

void NatsSubscription::onComplete(void* closure) {
    delete static_cast<std::shared_ptr<Gate>*>(closure);
}

}  // namespace partyline
