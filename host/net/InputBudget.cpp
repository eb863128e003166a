#include "net/InputBudget.h"

namespace partyline::net {

void InputBudget::update(int holder, size_t bytes) {
    auto it = held_.find(holder);
    if (it == held_.end()) {
        if (bytes == 0) return;
        uint64_t order = nextOrder_++;
        held_.emplace(holder, Held{bytes, order});
        byOrder_.emplace(order, holder);
        total_ += bytes;
        return;
    }
    total_ -= it->second.bytes;
    if (bytes == 0) {
        byOrder_.erase(it->second.order);
        held_.erase(it);
        return;
    }
    it->second.bytes = bytes;
    total_ += bytes;
}

std::optional<int> InputBudget::offender() const {
    if (total_ <= limit_ || byOrder_.empty()) return std::nullopt;
    return byOrder_.rbegin()->second;
}

}  // namespace partyline::net
