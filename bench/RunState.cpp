#include "RunState.h"

#include <cmath>

namespace partyline::bench {

RunState::RunState(const Options& opts, std::vector<Endpoint> nodes, std::string run)
    : options(opts),
      endpoints(std::move(nodes)),
      runId(std::move(run)),
      openedPerRoom(new std::atomic<uint64_t>[opts.rooms]),
      expectedWritesPerRoom(new std::atomic<uint64_t>[opts.rooms]) {
    for (uint32_t r = 0; r < opts.rooms; ++r) {
        openedPerRoom[r].store(0);
        expectedWritesPerRoom[r].store(0);
    }
}

uint32_t RunState::writerCount() const {
    return options.mode == Mode::Post ? options.httpConnections : options.writers;
}

uint64_t RunState::maxCounter() const {
    return uint64_t(std::ceil(options.rate * options.durationSeconds)) + 1;
}

std::string RunState::roomName(uint32_t room) const {
    return options.roomPrefix + std::to_string(room);
}

std::string RunState::expandPath(const std::string& pattern, uint32_t room, uint32_t client) const {
    std::string out;
    for (size_t i = 0; i < pattern.size();) {
        auto replace = [&](std::string_view name, const std::string& value) {
            if (pattern.compare(i, name.size(), name) != 0) return false;
            out += value;
            i += name.size();
            return true;
        };
        if (replace("{party}", options.party) || replace("{room}", roomName(room)) ||
            replace("{id}", "bench-" + runId + "-" + std::to_string(client)))
            continue;
        out += pattern[i++];
    }
    return out;
}

bool testAndSet(std::vector<uint64_t>& bits, uint64_t index) {
    size_t word = size_t(index >> 6);
    if (word >= bits.size()) bits.resize(word + 1 + word / 2, 0);
    uint64_t mask = uint64_t(1) << (index & 63);
    bool was = bits[word] & mask;
    bits[word] |= mask;
    return was;
}

void WriteLedger::add(uint32_t room, uint32_t writer, uint64_t counter) {
    testAndSet(bits_[key(room, writer)], counter);
}

void WriteLedger::merge(const WriteLedger& other) {
    for (const auto& [k, bits] : other.bits_) {
        auto& mine = bits_[k];
        if (mine.size() < bits.size()) mine.resize(bits.size(), 0);
        for (size_t i = 0; i < bits.size(); ++i) mine[i] |= bits[i];
    }
}

const std::vector<uint64_t>* WriteLedger::find(uint32_t room, uint32_t writer) const {
    auto it = bits_.find(key(room, writer));
    return it == bits_.end() ? nullptr : &it->second;
}

}  // namespace partyline::bench
