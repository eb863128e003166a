#include "bus/Bus.h"

namespace partyline {

Result<bool> logHolds(Bus& bus, const std::string& subject, uint64_t since) {
    if (since == 0) return true;
    auto entries = bus.read(subject, since - 1, 1);
    if (!entries) return entries.status();
    return entries->empty() || entries->front().seq == since;
}

}  // namespace partyline
