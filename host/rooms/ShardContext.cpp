#include "rooms/ShardContext.h"

#include <algorithm>

#include "core/Metrics.h"

namespace partyline {

void ShardContext::writeMetrics(Metrics& out) const {
    out.counter("partyline_log_writes_in_total", "Writes received from the log.", writesIn.load());
    out.counter("partyline_deliveries_total", "Writes handed to connections.", deliveries.load());
    out.counter("partyline_gap_fills_total", "Writes read back from the log to close a gap.",
                gapsFilled.load());
    out.counter("partyline_publishes_total", "Writes published by room scripts.", publishes.load());
    out.counter("partyline_publish_errors_total", "Room script publishes that failed.", publishErrors.load());
    out.counter("partyline_lua_errors_total", "Lua handler errors, budget stops included.", luaErrors.load());
    out.counter("partyline_lua_budget_stops_total",
                "Lua handler calls stopped by the instruction budget, the processor time limit or the memory "
                "cap (also in lua_errors).",
                luaBudgetStops.load());
    out.gauge("partyline_log_lag_writes", "Writes this node received from the log and has not delivered yet.",
              std::max<int64_t>(0, waitingWrites.load()));
    out.histogram("partyline_publish_seconds",
                  "From a publish (room:broadcast or a built-in broadcast) to the log's acknowledgement.",
                  publishSeconds);
    out.histogram("partyline_delivery_seconds",
                  "From the log storing a write to its frames queued for this node's connections.",
                  deliverySeconds);
}

}  // namespace partyline
