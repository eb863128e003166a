#include "bus/Partition.h"

#include <charconv>

namespace partyline {

uint64_t fnv1a64(std::string_view bytes) {
    uint64_t hash = 0xcbf29ce484222325ULL;
    for (unsigned char c : bytes) hash = (hash ^ c) * 0x100000001b3ULL;
    return hash;
}

int partitionOf(std::string_view party, std::string_view roomId, int count) {
    if (count <= 1) return 0;
    std::string key;
    key.reserve(party.size() + roomId.size() + 1);
    key.append(party).push_back('\0');
    key.append(roomId);
    return int(fnv1a64(key) % uint64_t(count));
}

std::string partitionName(std::string_view name, int index, int count) {
    std::string out(name);
    if (count > 1) out.append("-").append(std::to_string(index));
    return out;
}

std::optional<int> partitionIndexOf(std::string_view name, std::string_view candidate) {
    if (candidate.size() < name.size() + 2 || !candidate.starts_with(name) || candidate[name.size()] != '-')
        return std::nullopt;
    std::string_view digits = candidate.substr(name.size() + 1);
    if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
    int index = 0;
    auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), index);
    if (error != std::errc() || end != digits.data() + digits.size() || index < 0) return std::nullopt;
    return index;
}

}  // namespace partyline
