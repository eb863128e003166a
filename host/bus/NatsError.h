// natsStatus to Status: the one place where nats.c's errors become partyline's.
//
// Used by the units that call nats.c (NatsBus, NatsKeyValue) and by nothing
// else: a natsStatus never travels further than the call that returned it.
#pragma once

#include <nats/nats.h>

#include <string_view>

#include "core/Status.h"

namespace partyline {

// The Code a natsStatus stands for: Unavailable for every way of not reaching
// the server, Timeout, NotFound, InvalidArgument, TooLarge, else Internal.
Code codeFor(natsStatus s);

// Converts a failed nats.c call, with nats.c's detailed words when it kept
// some. Call it right after the call: nats.c keeps the detailed error per
// thread, and the next call may overwrite it.
Status natsFailure(natsStatus s, std::string_view what, jsErrCode jsErr = jsErrCode(0));

}  // namespace partyline
