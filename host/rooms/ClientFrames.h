// ClientFrames: the WebSocket frames a room sends its connections, in each client's shape.
//
// A raw client gets the data itself, as a text or binary frame. A client of the `partyline.v1`
// subprotocol gets one JSON shape for everything, so it never has to guess what a frame is:
//
//   {"seq":N,"data":"text"}                    a write of the room's log
//   {"seq":N,"binary":true,"data":"<base64>"}  a binary write
//   {"data":"text"} / {"binary":true,...}      a conn:send (not in the log: no seq)
//   {"truncated":true,"since":S,"first":F}     writes after S are gone; F is the first one left
//   ... ,"epoch":"E"}                          (the same, when the log itself began again)
//
// Each function encodes one frame, to be shared by every recipient of that shape.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "bus/Bus.h"
#include "rooms/Client.h"

namespace partyline {

// A write of the log, as a raw client gets it.
FramePtr rawWriteFrame(const LogEntry& entry);
// A write of the log, as a partyline.v1 client gets it.
FramePtr versionedWriteFrame(const LogEntry& entry);
// The write in the client's shape.
FramePtr writeFrameFor(const Client& client, const LogEntry& entry);
// A conn:send in the client's shape.
FramePtr directFrameFor(const Client& client, std::string_view data, bool binary);
// Tells a partyline.v1 client that the writes after `since` it would have been sent are gone
// and `first` (0: none) is the first one the log still holds. `epoch`, when not empty: the log
// began again (a new generation of its stream), whose sequences start over.
FramePtr truncatedFrame(uint64_t since, uint64_t first, const std::string& epoch = {});

}  // namespace partyline
