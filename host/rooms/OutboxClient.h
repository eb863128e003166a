// OutboxClient: the room's view of one WebSocket, whatever the shard sends going to the
// connection's net::Outbox (a partyline.mux.v1 socket's rooms have their own, MuxClient).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "net/Sender.h"
#include "rooms/Client.h"

namespace partyline {

class OutboxClient final : public Client {
   public:
    OutboxClient(std::string id, bool versioned, std::shared_ptr<net::Outbox> outbox, std::string auth = {})
        : id_(std::move(id)), versioned_(versioned), outbox_(std::move(outbox)), auth_(std::move(auth)) {}
    const std::string& id() const override { return id_; }
    const std::string& auth() const override { return auth_; }
    bool versioned() const override { return versioned_; }
    void send(const FramePtr& frame) override { outbox_->send(frame); }
    void send(const FramePtr& frame, net::SendBatch& batch) override { outbox_->send(frame, batch); }
    void sendNow(const FramePtr& frame) override { outbox_->sendNow(frame); }
    void close(uint16_t code, std::string_view reason) override { outbox_->close(code, reason); }
    bool closed() const override { return outbox_->closed(); }
    size_t queuedBytes() const override { return outbox_->queuedBytes(); }

   private:
    std::string id_;
    bool versioned_;
    std::shared_ptr<net::Outbox> outbox_;
    std::string auth_;
};

}  // namespace partyline
