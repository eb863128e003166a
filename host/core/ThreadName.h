// ThreadName: names the calling thread by its role (pthread_setname_np), so `top -H`, `perf` and
// `ps -L` tell partyline's threads apart: pl-reactor, pl-sender, pl-shard-N, pl-block-N,
// pl-timer, pl-fetch, pl-nats-timer, pl-kv-watch, pl-http-N, pl-nats-fork, and nats.c's
// pl-nats-io, pl-nats-lib and pl-nats-deliver (docs/ARCHITECTURE.md).
// Linux keeps 15 bytes of a name; longer names are cut there. A thread starts with the name of
// the thread that created it, which is how the threads of a library that names none get theirs
// (ThreadNameScope around the call that starts them).
#pragma once

#include <string_view>

namespace partyline {

void nameThisThread(std::string_view name);

// Names the calling thread for the scope, then gives it back its name: threads started meanwhile
// keep the scope's name (nats.c's reader and flusher, for one).
class ThreadNameScope {
   public:
    explicit ThreadNameScope(std::string_view name);
    ~ThreadNameScope();
    ThreadNameScope(const ThreadNameScope&) = delete;
    ThreadNameScope& operator=(const ThreadNameScope&) = delete;

   private:
    char previous_[16] = {};
};

}  // namespace partyline
