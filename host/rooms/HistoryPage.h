// HistoryPage: where a page of a room's log ends, the one rule of GET .../history and room:history.
//
// A page holds the writes after `since`, in log order: at most `limit` of them, and only while
// their encoded size (historyEntryBytes: each entry as the history answer writes it, JSON escapes
// included) stays within the page's byte budget. The first write is always on the page, however
// large, so one write over the budget comes alone and a reader paging on with `since = next`
// always moves on. HistoryReader reads the page one entry at a time and hands each out as it is
// read: a page is held whole only by a caller that keeps it.
// Must not: write the answer (the caller does, entry by entry) nor touch a shard.
//
// Threads: any; HistoryReader blocks on the log, so use it on a worker or a blocking thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bus/Bus.h"
#include "core/Status.h"

namespace partyline {

// A page of the log, held whole: what room:history gives a script.
struct HistoryPage {
    std::vector<LogEntry> entries;
    bool truncated = false;  // retention dropped writes after the page's `since`
    bool more = false;       // the log holds writes after the page: ask again with since = next
    uint64_t next = 0;       // the since of the next page: the last entry's seq (the page's since if none)
};

// The entry as the history answer writes it: {"seq":N,"binary":false,"data":"..."}.
std::string historyEntryJson(const LogEntry& entry);
// historyEntryJson(entry).size(), without building it.
size_t historyEntryBytes(const LogEntry& entry);

class HistoryReader {
   public:
    // `maxBytes`: the page's budget of encoded bytes (limits.max_history_page_bytes, or less).
    HistoryReader(Bus& bus, std::string subject, uint64_t since, size_t limit, size_t maxBytes);

    // Asks the log whether it still holds `since` (truncated()). Call it once, before next().
    Status open();
    // The page's next entry, or nothing once the page is over (more() tells whether the log goes
    // on). An error leaves the page as it was: what was handed out stays valid.
    Result<std::optional<LogEntry>> next();

    bool truncated() const { return truncated_; }
    bool more() const { return more_; }
    uint64_t nextSince() const { return after_; }

    // The whole page at once.
    static Result<HistoryPage> readAll(Bus& bus, const std::string& subject, uint64_t since, size_t limit,
                                       size_t maxBytes);

   private:
    Bus& bus_;
    std::string subject_;
    uint64_t after_;  // the last seq handed out (or since)
    size_t limit_;
    size_t maxBytes_;
    size_t count_ = 0;
    size_t bytes_ = 0;
    bool truncated_ = false;
    bool more_ = false;
    bool over_ = false;
};

}  // namespace partyline
