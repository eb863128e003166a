#include "bus/NatsCodec.h"

#include <charconv>
#include <chrono>
#include <limits>

#include "core/Json.h"

namespace partyline {
namespace {

constexpr int64_t kNanosPerSecond = 1000000000;

int hexValue(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

std::string describeStatus(std::optional<std::string_view> status) {
    if (!status) return "?";
    return std::string(*status);
}

}  // namespace

std::optional<uint64_t> parseUint(std::string_view text) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

// JetStream's stamps are RFC 3339 in UTC, "2026-11-23T18:53:17.198725222Z": read at fixed
// places, with no sscanf or timegm, since every delivered message carries one.
int64_t parseTimeStamp(std::string_view text) {
    constexpr std::string_view kLayout = "dddd-dd-ddTdd:dd:dd";
    if (text.size() < kLayout.size()) return 0;
    for (size_t i = 0; i < kLayout.size(); ++i) {
        const bool digit = text[i] >= '0' && text[i] <= '9';
        if (kLayout[i] == 'd' ? !digit : text[i] != kLayout[i]) return 0;
    }
    auto number = [&](size_t at, size_t width) {
        int value = 0;
        for (size_t i = at; i < at + width; ++i) value = value * 10 + (text[i] - '0');
        return value;
    };
    const std::chrono::year_month_day date{std::chrono::year(number(0, 4)),
                                           std::chrono::month(unsigned(number(5, 2))),
                                           std::chrono::day(unsigned(number(8, 2)))};
    const int hour = number(11, 2), minute = number(14, 2), second = number(17, 2);
    if (!date.ok() || hour > 23 || minute > 59 || second > 60) return 0;
    int64_t nanos = 0;
    size_t i = kLayout.size();
    if (i < text.size() && text[i] == '.') {
        int64_t scale = 100000000;
        for (++i; i < text.size() && text[i] >= '0' && text[i] <= '9'; ++i, scale /= 10)
            nanos += (text[i] - '0') * scale;
    }
    if (i + 1 != text.size() || text[i] != 'Z') return 0;  // the server always writes UTC
    const int64_t days = std::chrono::sys_days(date).time_since_epoch().count();
    const int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second;
    constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / kNanosPerSecond - 1;
    if (seconds > kMaxSeconds || seconds < -kMaxSeconds) return 0;
    return seconds * kNanosPerSecond + nanos;
}

std::string encodeExclude(const std::vector<std::string>& ids) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (size_t i = 0; i < ids.size(); ++i) {
        const std::string& id = ids[i];
        if (i > 0) out += ',';  // between ids, also after an empty first one
        for (char ch : id) {
            auto c = static_cast<unsigned char>(ch);
            if (c == '%' || c == ',' || c <= 0x20 || c == 0x7F) {
                out += '%';
                out += kHex[c >> 4];
                out += kHex[c & 0xF];
            } else {
                out += ch;
            }
        }
    }
    return out;
}

std::vector<std::string> decodeExclude(std::string_view text) {
    std::vector<std::string> ids;
    std::string current;
    for (size_t i = 0; i <= text.size(); ++i) {
        if (i == text.size() || text[i] == ',') {
            ids.push_back(std::move(current));
            current.clear();
        } else if (text[i] == '%' && i + 2 < text.size() && hexValue(text[i + 1]) >= 0 &&
                   hexValue(text[i + 2]) >= 0) {
            current += static_cast<char>(hexValue(text[i + 1]) * 16 + hexValue(text[i + 2]));
            i += 2;
        } else {
            current += text[i];
        }
    }
    if (text.empty()) ids.clear();
    return ids;
}

Result<LogEntry> decodeEntry(const EntryHeaders& headers, std::string_view data) {
    LogEntry entry;
    auto seq = headers.sequence ? parseUint(*headers.sequence) : std::nullopt;
    if (!seq) return Status(Code::Internal, "message from the log has no Nats-Sequence header");
    entry.seq = *seq;
    if (headers.lastSequence) {
        if (auto prev = parseUint(*headers.lastSequence)) {
            entry.prevSeq = *prev;
            entry.prevKnown = true;
        }
    }
    if (headers.timeStamp) entry.timeNs = parseTimeStamp(*headers.timeStamp);
    if (headers.msgId) entry.msgId = *headers.msgId;
    if (headers.binary) entry.binary = *headers.binary == "1";
    if (headers.exclude) entry.exclude = decodeExclude(*headers.exclude);
    if (headers.published) {
        if (auto ns = parseUint(*headers.published)) entry.publishedNs = int64_t(*ns);
    }
    entry.data.assign(data);
    return entry;
}

std::optional<PubAck> parsePubAck(std::string_view json) {
    auto parsed = parseJson(json);
    if (!parsed) return std::nullopt;
    const JsonValue& answer = parsed.value();
    PubAck ack;
    if (const JsonValue* error = answer.find("error")) {
        ack.error = true;
        auto number = [error](std::string_view key) {
            const JsonValue* field = error->find(key);
            return field != nullptr ? int(field->asInteger().value_or(0)) : 0;
        };
        ack.code = number("code");
        ack.errCode = number("err_code");
        if (const JsonValue* description = error->find("description")) {
            if (const std::string* text = description->asString()) ack.description = *text;
        }
        return ack;
    }
    const JsonValue* seq = answer.find("seq");
    auto value = seq != nullptr ? seq->asInteger() : std::nullopt;
    if (!value || *value <= 0) return std::nullopt;
    ack.seq = uint64_t(*value);
    if (const JsonValue* duplicate = answer.find("duplicate"))
        ack.duplicate = duplicate->asBool().value_or(false);
    return ack;
}

Result<KvChangeAt> decodeKvChange(std::string_view subjectPrefix, const KvHeaders& headers,
                                  std::string_view data) {
    auto seq = headers.sequence ? parseUint(*headers.sequence) : std::nullopt;
    if (!seq || *seq == 0) return Status(Code::Internal, "bucket message without a readable Nats-Sequence");
    if (!headers.subject || headers.subject->size() <= subjectPrefix.size() ||
        headers.subject->substr(0, subjectPrefix.size()) != subjectPrefix)
        return Status(Code::Internal, "bucket message without a subject of the bucket");
    KvChangeAt at;
    at.seq = *seq;
    at.change.kind = headers.operation ? KvChange::Kind::Delete : KvChange::Kind::Put;
    at.change.entry.key = std::string(headers.subject->substr(subjectPrefix.size()));
    at.change.entry.revision = *seq;
    if (!headers.operation) at.change.entry.value = std::string(data);
    return at;
}

Result<uint64_t> readMessageGetSequence(std::string_view json) {
    // The answer carries the message itself (base64): room for the largest payload a server takes.
    auto parsed = parseJson(json, size_t(96) << 20);
    if (!parsed) return Status(Code::Internal, "unreadable message get answer: " + parsed.status().message());
    const JsonValue& answer = parsed.value();
    if (const JsonValue* error = answer.find("error")) {
        const JsonValue* errCode = error->find("err_code");
        if (errCode != nullptr && errCode->asInteger() == kJsErrNoMessageFound) return uint64_t(0);
        const JsonValue* description = error->find("description");
        const std::string* text = description != nullptr ? description->asString() : nullptr;
        return Status(Code::Unavailable,
                      "JetStream refused the message get: " + (text ? *text : "no reason"));
    }
    const JsonValue* message = answer.find("message");
    const JsonValue* seq = message != nullptr ? message->find("seq") : nullptr;
    auto value = seq != nullptr ? seq->asInteger() : std::nullopt;
    if (!value || *value <= 0) return Status(Code::Internal, "message get answer without a sequence");
    return uint64_t(*value);
}

AckReading readAck(std::string_view body, std::optional<std::string_view> status) {
    if (body.empty()) {
        std::string why = "JetStream did not answer (status " + describeStatus(status) +
                          (status == "503" ? ": no responders; is the stream there?)" : ")");
        return {AckOutcome::Retry, 0, Status(Code::Unavailable, why)};
    }
    auto ack = parsePubAck(body);
    if (!ack)
        return {AckOutcome::Refused, 0,
                Status(Code::Internal, "unreadable publish acknowledgement: " + std::string(body))};
    if (!ack->error) return {AckOutcome::Stored, ack->seq, Status::ok(), ack->duplicate};
    if (ack->errCode == kJsErrWrongLastSequence)
        return {AckOutcome::Refused, 0, Status(Code::Conflict, "publish: " + ack->description)};
    if (ack->code == 503)
        return {AckOutcome::Retry, 0, Status(Code::Unavailable, "JetStream: " + ack->description)};
    Code code = ack->errCode == kJsErrMessageTooLarge ? Code::TooLarge : Code::Internal;
    return {AckOutcome::Refused, 0,
            Status(code, "JetStream refused the publish: " + ack->description + " [err_code " +
                             std::to_string(ack->errCode) + "]")};
}

std::string encodeHeaderBlock(std::initializer_list<std::pair<std::string_view, std::string_view>> headers) {
    std::string out = "NATS/1.0\r\n";
    for (const auto& [name, value] : headers) {
        if (value.empty()) continue;
        out += name;
        out += ": ";
        for (char c : value) out += (c == '\r' || c == '\n') ? ' ' : c;
        out += "\r\n";
    }
    out += "\r\n";
    return out;
}

std::string headerSafe(std::string_view text) {
    std::string out;
    for (char c : text) out += (static_cast<unsigned char>(c) > 0x20 && c != 0x7F) ? c : '_';
    return out.empty() ? "node" : out;
}

bool validSubject(std::string_view subject) {
    if (subject.empty() || subject.front() == '.' || subject.back() == '.') return false;
    for (size_t i = 0; i < subject.size(); ++i) {
        auto c = static_cast<unsigned char>(subject[i]);
        if (c <= 0x20 || c == 0x7F || c == '*' || c == '>') return false;
        if (c == '.' && i + 1 < subject.size() && subject[i + 1] == '.') return false;
    }
    return true;
}

}  // namespace partyline
