// Client: one WebSocket connection as a shard sees it.
//
// The network layer implements it over a net::Outbox; unit tests implement it
// with a recording fake. Both calls are made on the shard's strand and must
// never block: they queue bytes and return.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "net/WebSocketProtocol.h"

namespace partyline::net {
class SendBatch;
}

namespace partyline {

using FramePtr = std::shared_ptr<const std::string>;  // an encoded WebSocket frame

class Client {
   public:
    virtual ~Client() = default;
    virtual const std::string& id() const = 0;
    // The client offered the `partyline.v1` subprotocol: writes reach it as {"seq":N,"data":...}.
    virtual bool versioned() const = 0;
    // One room of a `partyline.mux.v1` socket: writes reach it as {"room":"party/room","seq":N,
    // "data":...}, each frame naming the room, and conn:send through sendMessage.
    virtual bool multiplexed() const { return false; }
    // Strand: the shard has taken the connection (it replays or joins next); every frame it
    // sends the client from now on follows what this sends.
    virtual void admitted() {}
    // Strand: conn:send of a multiplexed connection, which wraps the data in its own frame; any
    // other connection gets it as sent.
    virtual void sendMessage(std::string_view data, bool binary) {
        send(std::make_shared<const std::string>(
            net::encodeFrame(binary ? net::Opcode::Binary : net::Opcode::Text, data)));
    }
    virtual void send(const FramePtr& frame) = 0;
    // As send(); a client over a net::Outbox leaves the Sender's wake-up to `batch`, flushed once
    // the shard has given the frame to every recipient.
    virtual void send(const FramePtr& frame, net::SendBatch& batch) {
        (void)batch;
        send(frame);
    }
    // The same, but when nothing is queued for the client the frame may be written to its socket
    // on the calling thread, without blocking (what does not fit is queued as by send).
    virtual void sendNow(const FramePtr& frame) { send(frame); }
    virtual void close(uint16_t code, std::string_view reason) = 0;
    // True once the connection takes no more frames (closing or closed).
    virtual bool closed() const = 0;
    // Bytes queued for the client and not yet written to its socket.
    virtual size_t queuedBytes() const = 0;
    // The claims (JSON) of the token it connected with under the party's auth; empty: none.
    virtual const std::string& auth() const {
        static const std::string none;
        return none;
    }
};

}  // namespace partyline
