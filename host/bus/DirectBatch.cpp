#include "bus/DirectBatch.h"

#include <algorithm>

namespace partyline {

std::string directBatchRequest(uint64_t seq, std::string_view subject, int batch, int maxBytes) {
    std::string body = "{\"seq\":" + std::to_string(seq) + ",\"next_by_subj\":\"";
    body += subject;
    body += "\",\"batch\":" + std::to_string(batch) + ",\"max_bytes\":" + std::to_string(maxBytes) + "}";
    return body;
}

BatchAnswer classifyBatchAnswer(std::optional<std::string_view> status) {
    if (!status) return BatchAnswer::Entry;
    if (*status == "204") return BatchAnswer::End;
    if (*status == "404") return BatchAnswer::NotFound;
    if (*status == "408") return BatchAnswer::Timeout;
    if (*status == "503") return BatchAnswer::Unavailable;
    return BatchAnswer::Failed;
}

DirectBatchRead::DirectBatchRead(uint64_t after, size_t limit) : next_(after + 1), limit_(limit) {}

int DirectBatchRead::nextBatch() const {
    const size_t wanted = full() ? 0 : limit_ - entries_.size();
    return int(std::min(wanted, size_t(kDirectBatchMessages)));
}

bool DirectBatchRead::add(LogEntry entry) {
    if (full() || entry.seq < next_) return false;
    // Next-by-subject skips other subjects, so the previous entry is this one's predecessor. The
    // first entry's is not known (a batch's Nats-Last-Sequence is 0 there, not the predecessor).
    entry.prevKnown = !entries_.empty();
    entry.prevSeq = entries_.empty() ? 0 : entries_.back().seq;
    next_ = entry.seq + 1;
    entries_.push_back(std::move(entry));
    return true;
}

}  // namespace partyline
