#include "bus/Subject.h"

namespace partyline {
namespace {

bool passesThrough(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;  // lower case is refused so each id has exactly one token
}

Status refuseEmpty(size_t bytes, std::string_view what) {
    if (bytes == 0) return {Code::InvalidArgument, std::string(what) + " is empty"};
    return Status::ok();
}

std::string join(std::string_view prefix, std::string_view kind, std::string_view party,
                 std::string_view room) {
    std::string subject;
    subject.reserve(prefix.size() + kind.size() + party.size() + room.size() + 3);
    subject.append(prefix).append(".").append(kind).append(".").append(party).append(".").append(room);
    return subject;
}

}  // namespace

Result<std::string> encodeSubjectToken(std::string_view id, std::string_view what) {
    if (Status s = refuseEmpty(id.size(), what); !s) return s;
    if (id.size() > kMaxRoomIdBytes) {
        return Status(Code::InvalidArgument, std::string(what) + " is " + std::to_string(id.size()) +
                                                 " bytes, over the limit of " +
                                                 std::to_string(kMaxRoomIdBytes));
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string token;
    token.reserve(id.size() * 3);
    for (char ch : id) {
        auto c = static_cast<unsigned char>(ch);
        if (passesThrough(c)) {
            token += ch;
        } else {
            token += '=';
            token += kHex[c >> 4];
            token += kHex[c & 0xF];
        }
    }
    return token;
}

Result<std::string> decodeSubjectToken(std::string_view token) {
    if (Status s = refuseEmpty(token.size(), "subject token"); !s) return s;
    std::string id;
    id.reserve(token.size());
    for (size_t i = 0; i < token.size(); ++i) {
        auto c = static_cast<unsigned char>(token[i]);
        if (passesThrough(c)) {
            id += token[i];
            continue;
        }
        if (c != '=') {
            return Status(Code::InvalidArgument,
                          "subject token has an unexpected byte at offset " + std::to_string(i));
        }
        if (i + 2 >= token.size()) {
            return Status(Code::InvalidArgument,
                          "subject token ends inside an escape at offset " + std::to_string(i));
        }
        int hi = hexValue(token[i + 1]);
        int lo = hexValue(token[i + 2]);
        // An escape of a byte that passes through would give one id two tokens.
        if (hi < 0 || lo < 0 || passesThrough(static_cast<unsigned char>(hi * 16 + lo))) {
            return Status(Code::InvalidArgument,
                          "subject token has a bad escape at offset " + std::to_string(i));
        }
        id += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    if (id.size() > kMaxRoomIdBytes)
        return Status(Code::InvalidArgument, "subject token decodes to an over-long id");
    return id;
}

std::string logSubject(std::string_view prefix, std::string_view partyToken, std::string_view roomToken) {
    return join(prefix, "room", partyToken, roomToken);
}

std::string liveSubject(std::string_view prefix, std::string_view partyToken, std::string_view roomToken) {
    return join(prefix, "live", partyToken, roomToken);
}

}  // namespace partyline
