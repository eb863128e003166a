#include "bus/Subject.h"

#include <charconv>
#include <optional>

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

// The kinds of subject, the token after the prefix.
constexpr std::string_view kLog = "room";
constexpr std::string_view kLive = "live";
constexpr std::string_view kPresence = "presence";
constexpr std::string_view kBucketChanges = "kv";

std::string join(std::string_view prefix, std::string_view kind, std::string_view rest) {
    std::string subject;
    subject.reserve(prefix.size() + kind.size() + rest.size() + 2);
    subject.append(prefix).append(".").append(kind).append(".").append(rest);
    return subject;
}

// `rest` behind the partition's token when there are several partitions.
std::string partitioned(int partition, int count, std::string_view rest) {
    if (count <= 1) return std::string(rest);
    return std::to_string(partition) + "." + std::string(rest);
}

// The part of `subject` after <prefix>.<kind>., or nullopt when it has another beginning.
std::optional<std::string_view> after(std::string_view prefix, std::string_view kind,
                                      std::string_view subject) {
    if (!subject.starts_with(prefix)) return std::nullopt;
    subject.remove_prefix(prefix.size());
    if (!subject.starts_with('.')) return std::nullopt;
    subject.remove_prefix(1);
    if (!subject.starts_with(kind)) return std::nullopt;
    subject.remove_prefix(kind.size());
    if (!subject.starts_with('.')) return std::nullopt;
    subject.remove_prefix(1);
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

RoomSubjects roomSubjects(std::string_view prefix, std::string_view partyToken, std::string_view roomToken,
                          int partition, int count) {
    std::string keyPrefix;
    keyPrefix.reserve(partyToken.size() + roomToken.size() + 1);
    keyPrefix.append(partyToken).append(".").append(roomToken);
    const std::string stored = partitioned(partition, count, keyPrefix);
    RoomSubjects subjects{
        join(prefix, kLog, stored), join(prefix, kLive, stored), join(prefix, kPresence, keyPrefix), {}};
    subjects.keyPrefix = std::move(keyPrefix);
    return subjects;
}

std::string logSubjects(std::string_view prefix, int partition, int count) {
    return join(prefix, kLog, partitioned(partition, count, ">"));
}

std::string liveSubjects(std::string_view prefix, int partition, int count) {
    return join(prefix, kLive, partitioned(partition, count, ">"));
}

std::string bucketChangesSubject(std::string_view prefix, std::string_view bucket) {
    return join(prefix, kBucketChanges, bucket);
}

Result<int> partitionOfLogSubject(std::string_view prefix, std::string_view logSubject, int count) {
    if (count <= 1) return 0;
    std::string_view rest = after(prefix, kLog, logSubject).value_or("");
    size_t dot = rest.find('.');
    std::string_view token = rest.substr(0, dot);
    int partition = -1;
    auto [end, error] = std::from_chars(token.data(), token.data() + token.size(), partition);
    bool canonical = !token.empty() && (token.size() == 1 || token[0] != '0');
    if (dot == std::string_view::npos || dot + 1 == rest.size() || error != std::errc() ||
        end != token.data() + token.size() || !canonical || partition < 0 || partition >= count) {
        return Status(Code::InvalidArgument, "log subject " + std::string(logSubject) +
                                                 " names no partition of " + std::to_string(count));
    }
    return partition;
}

bool isLogSubject(std::string_view prefix, std::string_view subject) {
    auto rest = after(prefix, kLog, subject);
    return rest && !rest->empty();
}

std::string liveSubjectOf(std::string_view prefix, std::string_view logSubject) {
    return join(prefix, kLive, after(prefix, kLog, logSubject).value_or(""));
}

Result<std::pair<std::string, std::string>> roomOfKeyPrefix(std::string_view keyPrefix) {
    size_t dot = keyPrefix.find('.');
    if (dot == std::string_view::npos)
        return Status(Code::InvalidArgument, "key prefix has no '.' between party and room");
    auto party = decodeSubjectToken(keyPrefix.substr(0, dot));
    if (!party) return party.status().withContext("party token");
    auto room = decodeSubjectToken(keyPrefix.substr(dot + 1));
    if (!room) return room.status().withContext("room token");
    return std::make_pair(std::move(party.value()), std::move(room.value()));
}

}  // namespace partyline
