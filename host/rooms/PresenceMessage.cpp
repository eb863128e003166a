#include "rooms/PresenceMessage.h"

#include "core/Json.h"

namespace partyline {
namespace {

std::string itemJson(const PresenceItem& item) {
    std::string json = "{\"id\":" + jsonQuote(item.id);
    if (!item.info.empty()) json += ",\"info\":" + jsonQuote(item.info);
    return json + "}";
}

// The members every announcement has, without the braces.
std::string header(const PresenceMessage& m) {
    return "\"node\":" + jsonQuote(m.node) + ",\"epoch\":" + jsonQuote(m.epoch) +
           ",\"version\":" + std::to_string(m.version) + ",\"count\":" + std::to_string(m.count);
}

std::string fullJson(const PresenceMessage& m, const std::string& items) {
    return "{\"full\":true," + header(m) + ",\"part\":" + std::to_string(m.part) +
           ",\"parts\":" + std::to_string(m.parts) + ",\"set\":[" + items + "]}";
}

Status bad(const std::string& what) {
    return Status(Code::InvalidArgument, "presence message: " + what);
}

bool readString(const JsonValue& object, const char* key, std::string& out) {
    const JsonValue* v = object.find(key);
    if (!v || !v->asString()) return false;
    out = *v->asString();
    return true;
}

bool readCount(const JsonValue& object, const char* key, uint64_t& out) {
    const JsonValue* v = object.find(key);
    auto n = v ? v->asInteger() : std::nullopt;
    if (!n || *n < 0) return false;
    out = uint64_t(*n);
    return true;
}

Status readItems(const JsonValue& object, std::vector<PresenceItem>& out) {
    const JsonValue* set = object.find("set");
    if (!set) return Status::ok();
    if (!set->asArray()) return bad("set is not a list");
    for (const auto& element : *set->asArray()) {
        PresenceItem item;
        if (!element.asObject() || !readString(element, "id", item.id)) return bad("an entry without an id");
        if (const JsonValue* info = element.find("info"); info && !readString(element, "info", item.info))
            return bad("an entry's info is not JSON text");
        out.push_back(std::move(item));
    }
    return Status::ok();
}

}  // namespace

// {"ask":"<node>"[,"of":"<node>"]}, {"full":true,...,"part":i,"parts":n,"set":[...]} or
// {"diff":true,...,"base":B,"set":[...],"gone":[...]} or {"tally":true,...}
std::string encodePresence(const PresenceMessage& m) {
    if (m.kind == PresenceMessage::Kind::Ask)
        return "{\"ask\":" + jsonQuote(m.node) + (m.of.empty() ? "" : ",\"of\":" + jsonQuote(m.of)) + "}";
    if (m.kind == PresenceMessage::Kind::Count) return "{\"tally\":true," + header(m) + "}";
    std::string items;
    for (const auto& item : m.set) items += (items.empty() ? "" : ",") + itemJson(item);
    if (m.kind == PresenceMessage::Kind::Full) return fullJson(m, items);
    std::string gone;
    for (const auto& id : m.gone) gone += (gone.empty() ? "" : ",") + jsonQuote(id);
    return "{\"diff\":true," + header(m) + ",\"base\":" + std::to_string(m.base) + ",\"set\":[" + items +
           "],\"gone\":[" + gone + "]}";
}

Result<PresenceMessage> decodePresence(std::string_view text) {
    auto parsed = parseJson(text, kMaxPresenceMessageBytes * 2);
    if (!parsed) return bad(parsed.status().message());
    const JsonValue& v = parsed.value();
    if (!v.asObject()) return bad("not an object");
    PresenceMessage m;
    if (v.find("ask")) {
        m.kind = PresenceMessage::Kind::Ask;
        if (!readString(v, "ask", m.node)) return bad("ask names no node");
        if (v.find("of") && !readString(v, "of", m.of)) return bad("of is not a node");
        return m;
    }
    const JsonValue* full = v.find("full");
    const JsonValue* tally = v.find("tally");
    m.kind = full && full->asBool().value_or(false)     ? PresenceMessage::Kind::Full
             : tally && tally->asBool().value_or(false) ? PresenceMessage::Kind::Count
                                                        : PresenceMessage::Kind::Diff;
    uint64_t count = 0, part = 0, parts = 1;
    if (!readString(v, "node", m.node) || !readString(v, "epoch", m.epoch) ||
        !readCount(v, "version", m.version) || !readCount(v, "count", count))
        return bad("node, epoch, version and count are needed");
    m.count = size_t(count);
    if (m.kind == PresenceMessage::Kind::Count) return m;
    if (m.kind == PresenceMessage::Kind::Full) {
        if (!readCount(v, "part", part) || !readCount(v, "parts", parts) || parts == 0 || part >= parts)
            return bad("a full list needs part < parts");
        m.part = size_t(part);
        m.parts = size_t(parts);
    } else {
        const JsonValue* diff = v.find("diff");
        if (!diff || !diff->asBool().value_or(false) || !readCount(v, "base", m.base))
            return bad("neither a full list nor a diff with its base");
        if (const JsonValue* gone = v.find("gone")) {
            if (!gone->asArray()) return bad("gone is not a list");
            for (const auto& id : *gone->asArray()) {
                if (!id.asString()) return bad("gone holds a non-string");
                m.gone.push_back(*id.asString());
            }
        }
    }
    if (Status items = readItems(v, m.set); !items) return items;
    return m;
}

std::vector<std::string> encodeFullList(const std::string& node, const std::string& epoch, uint64_t version,
                                        const std::map<std::string, std::string>& entries, size_t maxBytes) {
    PresenceMessage m;
    m.node = node;
    m.epoch = epoch;
    m.version = version;
    m.count = entries.size();
    // Parts first, then their number, which every part carries: the budget leaves room for it.
    const size_t overhead = fullJson(m, "").size() + 40;
    std::vector<std::string> parts(1);
    for (const auto& [id, info] : entries) {
        std::string item = itemJson({id, info});
        if (!parts.back().empty() && parts.back().size() + 1 + item.size() + overhead > maxBytes)
            parts.emplace_back();
        parts.back() += (parts.back().empty() ? "" : ",") + item;
    }
    std::vector<std::string> out;
    m.parts = parts.size();
    for (size_t i = 0; i < parts.size(); ++i) {
        m.part = i;
        out.push_back(fullJson(m, parts[i]));
    }
    return out;
}

}  // namespace partyline
