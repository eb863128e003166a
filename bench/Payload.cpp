#include "Payload.h"

#include <charconv>

namespace partyline::bench {

namespace {

constexpr std::string_view kMarker = "plb1.";
constexpr std::string_view kSeqPrefix = "{\"seq\":";
constexpr std::string_view kWelcomePrefix = "{\"welcome\":true";

// Parses decimal digits up to the next '.', and moves past it.
bool takeField(std::string_view& rest, uint64_t& value) {
    auto dot = rest.find('.');
    if (dot == std::string_view::npos || dot == 0) return false;
    auto [end, error] = std::from_chars(rest.data(), rest.data() + dot, value);
    if (error != std::errc() || end != rest.data() + dot) return false;
    rest.remove_prefix(dot + 1);
    return true;
}

}  // namespace

std::string encodePayload(std::string_view runId, const WriteStamp& stamp, size_t size) {
    std::string text;
    text.reserve(size > 64 ? size : 64);
    text.append(kMarker).append(runId).push_back('.');
    for (uint64_t field : {uint64_t(stamp.room), uint64_t(stamp.writer), stamp.counter, stamp.sentNanos})
        text.append(std::to_string(field)).push_back('.');
    if (text.size() < size) text.append(size - text.size(), '-');
    return text;
}

Delivery parseDelivery(std::string_view frame, bool enveloped, std::string_view runId) {
    Delivery delivery;
    if (enveloped && frame.substr(0, kWelcomePrefix.size()) == kWelcomePrefix) {
        delivery.kind = Delivery::Kind::Welcome;
        return delivery;
    }
    if (enveloped && frame.substr(0, kSeqPrefix.size()) == kSeqPrefix) {
        const char* begin = frame.data() + kSeqPrefix.size();
        std::from_chars(begin, frame.data() + frame.size(), delivery.seq);
    }
    auto at = frame.find(kMarker);
    if (at == std::string_view::npos) return delivery;
    std::string_view rest = frame.substr(at + kMarker.size());
    if (rest.substr(0, runId.size()) != runId || rest.size() <= runId.size() || rest[runId.size()] != '.')
        return delivery;
    rest.remove_prefix(runId.size() + 1);
    uint64_t room = 0, writer = 0;
    WriteStamp& stamp = delivery.stamp;
    if (!takeField(rest, room) || !takeField(rest, writer) || !takeField(rest, stamp.counter) ||
        !takeField(rest, stamp.sentNanos) || room > UINT32_MAX || writer > UINT32_MAX || stamp.counter == 0)
        return delivery;
    stamp.room = uint32_t(room);
    stamp.writer = uint32_t(writer);
    delivery.kind = Delivery::Kind::Ours;
    return delivery;
}

}  // namespace partyline::bench
