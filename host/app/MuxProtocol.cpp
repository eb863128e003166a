#include "app/MuxProtocol.h"

#include <string>

#include "core/Base64.h"
#include "core/Json.h"

namespace partyline {
namespace {

// The frame's ref as JSON text to echo back; nullopt when it is there but not usable.
std::optional<std::string> refOf(const JsonValue& frame) {
    const JsonValue* ref = frame.find("ref");
    if (!ref || ref->isNull()) return std::string();
    if (auto n = ref->asInteger()) return std::to_string(*n);
    if (const std::string* s = ref->asString(); s && s->size() <= kMaxMuxRefBytes) return jsonQuote(*s);
    return std::nullopt;
}

// A member that must be a non-empty string when present (`required`: and must be present).
bool readString(const JsonValue& frame, const char* key, bool required, std::string& out,
                std::string& error) {
    const JsonValue* value = frame.find(key);
    if (!value) {
        if (required) error = std::string("missing \"") + key + "\" (a string)";
        return !required;
    }
    const std::string* text = value->asString();
    if (!text || text->empty()) {
        error = std::string("\"") + key + "\" must be a non-empty string";
        return false;
    }
    out = *text;
    return true;
}

bool readJoin(const JsonValue& frame, MuxCommand& command, std::string& error) {
    if (!readString(frame, "party", true, command.party, error) ||
        !readString(frame, "room", true, command.room, error) ||
        !readString(frame, "token", false, command.token, error) ||
        !readString(frame, "epoch", false, command.epoch, error))
        return false;
    if (const JsonValue* since = frame.find("since"); since && !since->isNull()) {
        auto n = since->asInteger();
        if (!n || *n < 0) {
            error = "\"since\" must be a sequence number (an integer, 0 or more)";
            return false;
        }
        command.since = uint64_t(*n);
    }
    if (const JsonValue* query = frame.find("query")) {
        const JsonValue::Object* fields = query->asObject();
        if (!fields) {
            error = "\"query\" must be an object of strings";
            return false;
        }
        for (const auto& [key, value] : *fields) {
            const std::string* text = value.asString();
            if (!text) {
                error = "\"query\" field \"" + key + "\" must be a string";
                return false;
            }
            command.query[key] = *text;
        }
    }
    return true;
}

bool readSend(const JsonValue& frame, MuxCommand& command, std::string& error) {
    if (!readString(frame, "room", true, command.room, error)) return false;
    const JsonValue* data = frame.find("data");
    const std::string* text = data ? data->asString() : nullptr;
    if (!text) {
        error = "missing \"data\" (a string)";
        return false;
    }
    if (const JsonValue* binary = frame.find("binary")) {
        auto flag = binary->asBool();
        if (!flag) {
            error = "\"binary\" must be true or false";
            return false;
        }
        command.binary = *flag;
    }
    if (!command.binary) {
        command.data = *text;
        return true;
    }
    auto decoded = base64Decode(*text);
    if (!decoded) {
        error = "\"data\" of a binary send must be base64";
        return false;
    }
    command.data = std::move(decoded.value());
    return true;
}

std::string withRef(std::string_view ref) {
    return ref.empty() ? "" : ",\"ref\":" + std::string(ref);
}

}  // namespace

MuxParse parseMuxCommand(std::string_view text, bool binary) {
    MuxParse out;
    if (binary) {
        out.error = "binary frames are not part of partyline.mux.v1: send JSON text";
        return out;
    }
    auto parsed = parseJson(text, text.size());  // the Reactor bounded it: limits.max_message_bytes
    if (!parsed) {
        out.error = "malformed JSON: " + parsed.status().message();
        return out;
    }
    const JsonValue& frame = parsed.value();
    if (!frame.asObject()) {
        out.error = "a frame must be a JSON object";
        return out;
    }
    auto ref = refOf(frame);
    if (!ref) {
        out.error =
            "\"ref\" must be an integer or a string of at most " + std::to_string(kMaxMuxRefBytes) + " bytes";
        return out;
    }
    out.ref = std::move(*ref);
    const JsonValue* op = frame.find("op");
    const std::string* name = op ? op->asString() : nullptr;
    if (!name) {
        out.error = "missing \"op\" (join, leave, send or refresh)";
        return out;
    }
    MuxCommand command;
    bool ok = false;
    if (*name == "join") {
        command.op = MuxCommand::Op::Join;
        ok = readJoin(frame, command, out.error);
    } else if (*name == "leave") {
        command.op = MuxCommand::Op::Leave;
        ok = readString(frame, "room", true, command.room, out.error);
    } else if (*name == "send") {
        command.op = MuxCommand::Op::Send;
        ok = readSend(frame, command, out.error);
    } else if (*name == "refresh") {
        command.op = MuxCommand::Op::Refresh;
        ok = readString(frame, "token", true, command.token, out.error);
    } else {
        out.error = "unknown op " + jsonQuote(*name) + ": expected join, leave, send or refresh";
    }
    if (ok) out.command = std::move(command);
    return out;
}

bool splitRoomName(std::string_view name, std::string& party, std::string& room) {
    size_t slash = name.find('/');
    if (slash == std::string_view::npos || slash == 0 || slash + 1 == name.size()) return false;
    party = name.substr(0, slash);
    room = name.substr(slash + 1);
    return true;
}

std::string muxJoined(std::string_view ref, std::string_view room, std::string_view connectionId,
                      std::string_view epoch) {
    std::string json = "{\"op\":\"joined\"" + withRef(ref) + ",\"room\":" + jsonQuote(room) +
                       ",\"id\":" + jsonQuote(connectionId);
    if (!epoch.empty()) json += ",\"epoch\":" + jsonQuote(epoch);
    return json + "}";
}

std::string muxLeft(std::string_view ref, std::string_view room) {
    return "{\"op\":\"left\"" + withRef(ref) + ",\"room\":" + jsonQuote(room) + "}";
}

std::string muxRefreshed(std::string_view ref, size_t rooms) {
    return "{\"op\":\"refreshed\"" + withRef(ref) + ",\"rooms\":" + std::to_string(rooms) + "}";
}

std::string muxError(std::string_view ref, int status, std::string_view error, std::string_view room) {
    std::string json = "{\"op\":\"error\"" + withRef(ref);
    if (!room.empty()) json += ",\"room\":" + jsonQuote(room);
    return json + ",\"status\":" + std::to_string(status) + ",\"error\":" + jsonQuote(error) + "}";
}

std::string muxClosed(std::string_view room, uint16_t code, std::string_view reason) {
    return "{\"op\":\"closed\",\"room\":" + jsonQuote(room) + ",\"code\":" + std::to_string(code) +
           ",\"reason\":" + jsonQuote(reason) + "}";
}

std::string muxMessage(std::string_view room, std::string_view data, bool binary) {
    std::string json = "{\"room\":" + jsonQuote(room);
    if (binary) return json + ",\"binary\":true,\"data\":\"" + base64Encode(data) + "\"}";
    return json + ",\"data\":" + jsonQuote(data) + "}";
}

}  // namespace partyline
