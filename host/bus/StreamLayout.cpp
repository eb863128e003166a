#include "bus/StreamLayout.h"

#include <algorithm>
#include <charconv>
#include <map>

#include "bus/NatsError.h"
#include "bus/NatsHandles.h"
#include "bus/Partition.h"

namespace partyline {
namespace {

constexpr std::string_view kDescriptionStem = "partyline log: partition ";
constexpr std::string_view kOf = " of ";

// The partition count `stream` was written with, when it is one of the log's streams:
// 1 for nats.stream itself, the count its description names for nats.stream-<i>, 0 when its
// description names none (made by hand, or by an older layout).
std::optional<int> countOf(const NatsConfig& cfg, const FoundStream& stream) {
    if (stream.name == cfg.stream) return 1;
    if (!partitionIndexOf(cfg.stream, stream.name)) return std::nullopt;
    return partitionCountOf(stream.description).value_or(0);
}

std::string listed(const std::vector<std::string>& names) {
    std::string out;
    for (size_t i = 0; i < names.size(); ++i)
        out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
    return out;
}

std::string expectedStreams(const NatsConfig& cfg) {
    if (cfg.partitions == 1) return "stream " + cfg.stream;
    return "streams " + partitionName(cfg.stream, 0, cfg.partitions) + " .. " +
           partitionName(cfg.stream, cfg.partitions - 1, cfg.partitions);
}

std::string writes(uint64_t messages) {
    return messages == 0 ? "empty" : std::to_string(messages) + (messages == 1 ? " write" : " writes");
}

// "PARTYLINE-1 (partition 1 of 3, 12 writes)".
std::string described(const NatsConfig& cfg, const FoundStream& stream, int count) {
    std::string what = "of no known partition count";
    if (count == 1) what = "a single partition";
    if (count > 1)
        what = "partition " + std::to_string(*partitionIndexOf(cfg.stream, stream.name)) + " of " +
               std::to_string(count);
    return stream.name + " (" + what + ", " + writes(stream.messages) + ")";
}

}  // namespace

std::string streamDescription(int index, int count) {
    if (count <= 1) return {};
    return std::string(kDescriptionStem) + std::to_string(index) + std::string(kOf) + std::to_string(count);
}

std::optional<int> partitionCountOf(const std::string& description) {
    std::string_view text = description;
    if (!text.starts_with(kDescriptionStem)) return std::nullopt;
    size_t of = text.find(kOf);
    if (of == std::string_view::npos) return std::nullopt;
    std::string_view digits = text.substr(of + kOf.size());
    int count = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
    if (error != std::errc() || end != digits.data() + digits.size() || count < 2) return std::nullopt;
    return count;
}

Status judgeStreamLayout(const NatsConfig& cfg, const std::vector<FoundStream>& found) {
    // JetStream lists streams in no particular order: the message names them in partition order.
    std::vector<FoundStream> sorted = found;
    auto rank = [&](const FoundStream& s) {
        return std::make_pair(partitionIndexOf(cfg.stream, s.name).value_or(-1), s.name);
    };
    std::sort(sorted.begin(), sorted.end(), [&](const auto& a, const auto& b) { return rank(a) < rank(b); });
    std::vector<std::string> foreign;
    std::map<int, int> counts;  // partition count -> streams found of it
    for (const FoundStream& stream : sorted) {
        auto count = countOf(cfg, stream);
        if (!count || *count == cfg.partitions) continue;
        // A stream of this layout's own name but no description: ours only when it is in range.
        if (*count == 0 && partitionIndexOf(cfg.stream, stream.name).value() < cfg.partitions) continue;
        foreign.push_back(described(cfg, stream, *count));
        if (*count > 0) ++counts[*count];
    }
    if (foreign.empty()) return Status::ok();
    std::string keep =
        counts.size() == 1
            ? "start with nats.partitions: " + std::to_string(counts.begin()->first) + " as before"
            : "start with the count the data was written with";
    return Status(Code::InvalidArgument,
                  "nats.partitions is " + std::to_string(cfg.partitions) + " (" + expectedStreams(cfg) +
                      "), but JetStream holds log streams of another partition count: " + listed(foreign) +
                      ". Rooms are placed by the partition count, so they would lose their history. Either " +
                      keep +
                      ", or move the rooms' data to the new layout and delete those streams (and "
                      "their storage and alarm buckets) before starting with " +
                      std::to_string(cfg.partitions));
}

Status checkStreamLayout(jsCtx* js, const NatsConfig& cfg) {
    jsStreamInfoList* raw = nullptr;
    jsErrCode jerr = jsErrCode(0);
    natsStatus s = js_Streams(&raw, js, nullptr, &jerr);
    StreamInfoListPtr list(raw);
    if (s == NATS_NOT_FOUND) return Status::ok();  // no stream at all
    if (s != NATS_OK) return natsFailure(s, "list streams", jerr);
    std::vector<FoundStream> found;
    for (int i = 0; i < list->Count; ++i) {
        const jsStreamInfo* info = list->List[i];
        if (info == nullptr || info->Config == nullptr || info->Config->Name == nullptr) continue;
        const char* description = info->Config->Description;
        found.push_back({info->Config->Name, description != nullptr ? description : "", info->State.Msgs});
    }
    return judgeStreamLayout(cfg, found);
}

}  // namespace partyline
