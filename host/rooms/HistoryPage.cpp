#include "rooms/HistoryPage.h"

#include "core/Json.h"

namespace partyline {
namespace {

std::string entryHead(const LogEntry& entry) {
    return "{\"seq\":" + std::to_string(entry.seq) + ",\"binary\":" + (entry.binary ? "true" : "false") +
           ",\"data\":";
}

}  // namespace

std::string historyEntryJson(const LogEntry& entry) {
    std::string json = entryHead(entry);
    json.reserve(json.size() + entry.data.size() + 3);
    quoteJsonTo([&json](const char* p, size_t n) { json.append(p, n); }, entry.data);
    json += '}';
    return json;
}

size_t historyEntryBytes(const LogEntry& entry) {
    size_t bytes = entryHead(entry).size() + 1;
    quoteJsonTo([&bytes](const char*, size_t n) { bytes += n; }, entry.data);
    return bytes;
}

HistoryReader::HistoryReader(Bus& bus, std::string subject, uint64_t since, size_t limit, size_t maxBytes)
    : bus_(bus), subject_(std::move(subject)), after_(since), limit_(limit), maxBytes_(maxBytes) {}

Status HistoryReader::open() {
    auto holds = logHolds(bus_, subject_, after_);
    if (!holds) return holds.status();
    truncated_ = !holds.value();
    return Status::ok();
}

// One entry per read: a large write is held once, never a batch of them.
Result<std::optional<LogEntry>> HistoryReader::next() {
    if (over_) return std::optional<LogEntry>{};
    auto read = bus_.read(subject_, after_, 1);
    if (!read) return read.status();
    if (read->empty()) {
        over_ = true;  // the end of the log
        return std::optional<LogEntry>{};
    }
    LogEntry& entry = read->front();
    const size_t cost = historyEntryBytes(entry);
    if (count_ == limit_ || (count_ > 0 && bytes_ + cost > maxBytes_)) {
        over_ = more_ = true;  // it starts the next page
        return std::optional<LogEntry>{};
    }
    count_++;
    bytes_ += cost;
    after_ = entry.seq;
    return std::optional<LogEntry>(std::move(entry));
}

Result<HistoryPage> HistoryReader::readAll(Bus& bus, const std::string& subject, uint64_t since, size_t limit,
                                           size_t maxBytes) {
    HistoryReader reader(bus, subject, since, limit, maxBytes);
    if (Status opened = reader.open(); !opened) return opened;
    HistoryPage page;
    for (;;) {
        auto entry = reader.next();
        if (!entry) return entry.status();
        if (!entry->has_value()) break;
        page.entries.push_back(std::move(**entry));
    }
    page.truncated = reader.truncated();
    page.more = reader.more();
    page.next = reader.nextSince();
    return page;
}

}  // namespace partyline
