// InputBudget: the node-wide budget for bytes held in unfinished WebSocket messages
// (limits.max_pending_input_bytes), and which connection gives way when it is spent.
//
// Each connection reports what its frame reader holds now. Past the budget, the holder whose
// unfinished message began last is the one to close (the newest offender): clients that started
// earlier keep their place and can finish. The per-connection cap is the reader's own
// (max_message_bytes); this bounds their sum, so many sockets each holding most of a message
// cannot fill the node's memory.
// Must not: close anything itself (the Reactor does, with 1013), read a clock (the order is a
// counter), or be shared: it lives on the Reactor's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>

namespace partyline::net {

class InputBudget {
   public:
    // `limit` bytes held by all connections together.
    explicit InputBudget(size_t limit) : limit_(limit) {}

    // `holder` (a connection's socket) holds `bytes` now; 0 takes it out. A holder that held
    // nothing before is the newest from now on.
    void update(int holder, size_t bytes);
    // While the total is over the limit: the holder to close (the newest). None when within.
    std::optional<int> offender() const;

    size_t total() const { return total_; }
    size_t limit() const { return limit_; }

   private:
    struct Held {
        size_t bytes;
        uint64_t order;  // when it began holding, as a count: larger is newer
    };

    size_t limit_;
    size_t total_ = 0;
    uint64_t nextOrder_ = 0;
    std::unordered_map<int, Held> held_;
    std::map<uint64_t, int> byOrder_;  // order -> holder, newest last
};

}  // namespace partyline::net
