#include "rooms/ConnectionIds.h"

#include <cstdlib>

#include "core/Crypto.h"

namespace partyline {
namespace {

// 16 random bytes as hex.
std::string randomHex() {
    unsigned char bytes[16];
    if (!crypto::randomBytes(bytes, sizeof bytes)) std::abort();  // no randomness: no safe id either
    std::string hex(2 * sizeof bytes, '0');
    crypto::hexTo(bytes, sizeof bytes, hex.data());
    return hex;
}

}  // namespace

IdOutcome decideId(const IdRequest& request, const IdHolder* holder) {
    if (request.wanted.empty() || !holder) return IdOutcome::Granted;
    if (!request.resume.empty() && crypto::equal(request.resume, holder->resume)) return IdOutcome::Resumed;
    if (request.authParty && !request.identity.empty())
        return request.identity == holder->identity ? IdOutcome::Replaced : IdOutcome::Refused;
    return IdOutcome::Fresh;
}

std::string ConnectionIds::randomId() {
    return randomHex();
}

ConnectionIds::Claim ConnectionIds::claim(const IdRequest& request) {
    std::lock_guard lock(mutex_);
    auto it = request.wanted.empty() ? held_.end() : held_.find(request.wanted);
    IdOutcome outcome = decideId(request, it == held_.end() ? nullptr : &it->second.holder);
    if (outcome == IdOutcome::Refused) return {outcome, {}, {}, 0};
    std::string id = request.wanted;
    if (id.empty() || outcome == IdOutcome::Fresh) {
        do id = randomId();
        while (held_.count(id));
    }
    Claim claim{outcome, id, randomHex(), nextTicket_++};
    held_[id] = Entry{IdHolder{request.identity, claim.resume}, claim.ticket};
    return claim;
}

void ConnectionIds::release(const std::string& id, uint64_t ticket) {
    std::lock_guard lock(mutex_);
    auto it = held_.find(id);
    if (it != held_.end() && it->second.ticket == ticket) held_.erase(it);
}

size_t ConnectionIds::size() const {
    std::lock_guard lock(mutex_);
    return held_.size();
}

}  // namespace partyline
