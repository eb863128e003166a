// MuxProtocol: the frames of a `partyline.mux.v1` socket, many rooms over one WebSocket. Reads
// what a client sends (join, leave, send, refresh) and writes what the node answers (joined,
// left, refreshed, closed, error, and a conn:send to one of the socket's rooms).
//
// Pure: text in, text out, so each bad frame is checked without a server. Must not: decide
// anything about rooms or tokens (MuxSession and the rooms do), or keep a token anywhere but in
// the command it returns.
//
// Threads: any.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace partyline {

// The subprotocol a client offers for a multiplexed socket.
inline constexpr std::string_view kMuxProtocol = "partyline.mux.v1";
// A longer ref is refused: it only names a request in the answer.
inline constexpr size_t kMaxMuxRefBytes = 64;

struct MuxCommand {
    enum class Op { Join, Leave, Send, Refresh };
    Op op = Op::Join;
    std::string party;                         // join: the party the room is asked of
    std::string room;                          // join: the room id; leave, send: "party/room"
    std::string token;                         // join, refresh: the token; empty: none
    std::map<std::string, std::string> query;  // join: what a room's URL would carry as ?k=v
    std::optional<uint64_t> since;             // join: replay the log after this sequence
    std::string epoch;                         // join: the log generation `since` is of; empty: none
    std::string data;                          // send: the message (decoded when binary)
    bool binary = false;                       // send: `data` came base64-encoded
};

// What one frame of the client says: the command, or why it is refused. `ref` is the JSON text
// of the frame's ref (an integer or a string), empty when it has none (or null) or none could be
// read.
struct MuxParse {
    std::optional<MuxCommand> command;
    std::string ref;
    std::string error;  // with no command: the problem, for the error frame
};

// `binary`: the client sent a binary frame, which this protocol does not take.
MuxParse parseMuxCommand(std::string_view text, bool binary = false);

// "party/room" into its party and room: the party ends at the first '/', as party names hold none.
// False when there is no '/' or either side is empty.
bool splitRoomName(std::string_view name, std::string& party, std::string& room);

// The node's frames. `ref` is MuxParse::ref (may be empty), `room` a "party/room".
// `epoch`: the generation of the room's log now (what a later join's `epoch` names); empty: none.
std::string muxJoined(std::string_view ref, std::string_view room, std::string_view connectionId,
                      std::string_view epoch = {});
std::string muxLeft(std::string_view ref, std::string_view room);
std::string muxRefreshed(std::string_view ref, size_t rooms);
// `room`: empty when the error concerns no one room.
std::string muxError(std::string_view ref, int status, std::string_view error, std::string_view room = {});
// The node ended the socket's connection to `room` (the room closed it, it stopped, its token
// expired): what a single-room socket would learn from its Close.
std::string muxClosed(std::string_view room, uint16_t code, std::string_view reason);
// conn:send to the socket's connection of `room`: {"room":...,"data":...}, base64 when binary.
std::string muxMessage(std::string_view room, std::string_view data, bool binary);

}  // namespace partyline
