// ThreadName: names the calling thread by its role (pthread_setname_np), so `top -H`, `perf` and
// `ps -L` tell partyline's threads apart: pl-reactor, pl-sender, pl-shard-N, pl-block-N,
// pl-timer, pl-fetch, pl-nats-timer, pl-kv-watch, pl-http-N, pl-nats-fork (docs/ARCHITECTURE.md).
// Linux keeps 15 bytes of a name; longer names are cut there.
#pragma once

#include <string_view>

namespace partyline {

void nameThisThread(std::string_view name);

}  // namespace partyline
