#include "app/LogEndpoints.h"

#include <civetweb.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <utility>

#include "app/HistoryQuery.h"
#include "app/HttpIo.h"
#include "app/Router.h"
#include "app/StreamedAnswer.h"
#include "core/Crypto.h"
#include "core/Json.h"
#include "core/Log.h"
#include "rooms/HistoryPage.h"

namespace partyline {
namespace {

// Writes in one batch broadcast: enough to fill the bus's send window in a few requests, few
// enough that one request cannot queue an unbounded backlog of publishes.
constexpr size_t kMaxBatchWrites = 1000;
constexpr const char* kBatchType = "application/x-ndjson";

// The log's answers to the publishes of one broadcast, collected for the CivetWeb worker that
// waits for all of them. Callbacks run on bus threads.
class Acks : public std::enable_shared_from_this<Acks> {
   public:
    explicit Acks(size_t count)
        : results_(count, Status(Code::Unavailable, "no acknowledgement from the log in time")),
          remaining_(count) {}
    PublishCallback callback(size_t index) {
        return [self = shared_from_this(), index](Result<uint64_t> result) {
            bool last;
            {
                std::lock_guard lock(self->mutex_);
                self->results_[index] = std::move(result);
                last = --self->remaining_ == 0;
            }
            // After the lock: woken under it, the worker would wait for the lock at once. `self`
            // keeps the condition variable alive if the worker has returned meanwhile.
            if (last) self->done_.notify_one();
        };
    }
    // Worker thread. Results not answered by the deadline stay "no acknowledgement in time".
    const std::vector<Result<uint64_t>>& wait(std::chrono::steady_clock::time_point deadline) {
        std::unique_lock lock(mutex_);
        done_.wait_until(lock, deadline, [&] { return remaining_ == 0; });
        return results_;
    }

   private:
    std::mutex mutex_;
    std::condition_variable done_;
    std::vector<Result<uint64_t>> results_;
    size_t remaining_;
};

using Targets = std::vector<std::pair<std::string, std::string>>;  // room, subject

// The answer to a broadcast that was a batch, went to a router room's shard rooms, or both:
// {"seq":N} per room, or {"seqs":[...]} per batch, null where the write was not acknowledged,
// with the first failure's "error".
// An Idempotency-Key: at most 128 visible ASCII bytes (what Stripe and the IETF draft allow).
constexpr size_t kMaxIdempotencyKey = 128;

Status checkIdempotencyKey(std::string_view key) {
    if (key.empty() || key.size() > kMaxIdempotencyKey)
        return Status(Code::InvalidArgument, "Idempotency-Key must be 1 to 128 bytes");
    for (char c : key)
        if (c < '!' || c > '~')
            return Status(Code::InvalidArgument, "Idempotency-Key must be visible ASCII, without spaces");
    return Status::ok();
}

// The message id of write `index` to `subject` under a client's Idempotency-Key: the same request
// retried maps to the same ids, so JetStream stores each write once within its duplicate window.
std::string idempotentMsgId(const std::string& subject, std::string_view key, size_t index) {
    std::string material = subject + "\n" + std::string(key) + "\n" + std::to_string(index);
    unsigned char digest[32];
    crypto::hash(crypto::Digest::Sha256, material, digest);
    char hex[65];
    crypto::hexTo(digest, sizeof digest, hex);
    return "idem-" + std::string(hex, 64);
}

HttpResponse broadcastAnswer(const Targets& targets, bool router, size_t writes, bool batch,
                             const std::vector<Result<uint64_t>>& results, const Result<uint64_t>* failure,
                             bool duplicate) {
    auto seqs = [&](size_t room) {
        std::string json = batch ? "\"seqs\":[" : "\"seq\":";
        for (size_t i = 0; i < writes; ++i) {
            const auto& result = results[room * writes + i];
            json += (i ? "," : "") + (result ? std::to_string(result.value()) : std::string("null"));
        }
        return batch ? json + "]" : json;
    };
    std::string json =
        failure ? "{\"error\":" + jsonQuote("broadcast failed: " + failure->status().message()) + "," : "{";
    if (duplicate) json += "\"duplicate\":true,";
    if (router) {
        json += "\"rooms\":[";
        for (size_t i = 0; i < targets.size(); ++i)
            json += (i ? ",{" : "{") + std::string("\"room\":") + jsonQuote(targets[i].first) + "," +
                    seqs(i) + "}";
        json += "]}";
    } else {
        json += seqs(0) + "}";
    }
    return HttpResponse::json(failure ? statusFor(failure->status().code()) : 200, json);
}

}  // namespace

std::vector<std::string> splitLines(std::string_view body) {
    std::vector<std::string> lines;
    while (!body.empty()) {
        size_t end = body.find('\n');
        std::string_view line = body.substr(0, end);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (!line.empty()) lines.emplace_back(line);
        if (end == std::string_view::npos) break;
        body.remove_prefix(end + 1);
    }
    return lines;
}

int LogEndpoints::handle(mg_connection* conn, const Route& route) {
    switch (route.kind) {
        case Route::Kind::Broadcast:
            return handleBroadcast(conn, route);
        case Route::Kind::History:
            return handleHistory(conn, route);
        case Route::Kind::Reload:
            return handleReload(conn, route);
        default:
            return sendText(conn, 404, "not found");
    }
}

int LogEndpoints::handleBroadcast(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    if (strcmp(ri->request_method, "POST") != 0) {
        HttpResponse response = HttpResponse::text(405, "use POST\n");
        response.headers.emplace_back("Allow", "POST");
        return send(conn, response);
    }
    // A router room's broadcast goes into the log of every one of its shard rooms.
    Targets targets;
    const Party* party = deps_.parties.find(route.party);
    const bool router = party && party->isRouter();
    if (router) {
        ShardRouter& shardRouter = *deps_.routers.at(route.party);
        for (auto& room : shardRouter.shardRooms(route.room))
            targets.emplace_back(room, deps_.rooms.subjects(shardRouter.target(), room).value().log);
    } else {
        auto subjects = deps_.rooms.subjects(route.party, route.room);
        if (!subjects)
            return sendText(conn, statusFor(subjects.status().code()), subjects.status().message());
        targets.emplace_back(route.room, subjects.value().log);
    }
    std::string body;
    Status read = deps_.bodies ? deps_.bodies->read(conn, deps_.limits.max_message_bytes, body)
                               : readBody(conn, deps_.limits.max_message_bytes, body);
    if (!read) return BodyReader::refuse(conn, read);
    const char* type = mg_get_header(conn, "Content-Type");
    std::string_view contentType = type ? type : "";
    const char* idempotencyKey = mg_get_header(conn, "Idempotency-Key");
    if (idempotencyKey) {
        if (Status key = checkIdempotencyKey(idempotencyKey); !key) return sendText(conn, 400, key.message());
    }
    PublishOptions options;
    options.binary = contentType.rfind("application/octet-stream", 0) == 0;
    auto duplicate = std::make_shared<std::atomic<bool>>(false);
    if (idempotencyKey) options.duplicate = duplicate;
    // A batch: every line is one write, published in order, answered once all are stored.
    const bool batch = contentType.rfind(kBatchType, 0) == 0;
    std::vector<std::string> writes;
    if (batch) {
        writes = splitLines(body);
        if (writes.empty())
            return sendText(conn, 400,
                            std::string("an ") + kBatchType + " broadcast needs at least one line");
        if (writes.size() > kMaxBatchWrites)
            return sendText(conn, 413,
                            std::to_string(writes.size()) + " lines is over the batch limit of " +
                                std::to_string(kMaxBatchWrites) + " writes");
    } else {
        writes.push_back(std::move(body));
    }
    const std::string client =
        deps_.proxies ? deps_.proxies->clientOf(ri->remote_addr, headersOf(ri).find("x-forwarded-for"))
                      : std::string(ri->remote_addr);
    if (int refused = chargeWrites(conn, client, targets.size(), writes)) return refused;
    auto acks = std::make_shared<Acks>(targets.size() * writes.size());
    size_t index = 0;
    auto published = std::chrono::steady_clock::now();
    std::vector<Publish> publishes;
    publishes.reserve(targets.size() * writes.size());
    for (const auto& [room, subject] : targets) {
        for (size_t i = 0; i < writes.size(); ++i) {
            PublishOptions each = options;
            if (idempotencyKey) each.msgId = idempotentMsgId(subject, idempotencyKey, i);
            publishes.push_back({subject, writes[i], std::move(each), acks->callback(index++)});
        }
    }
    deps_.bus.publishAll(std::move(publishes));
    const auto& results = acks->wait(std::chrono::steady_clock::now() + kRequestTimeout);
    if (deps_.publishSeconds) deps_.publishSeconds->observe(std::chrono::steady_clock::now() - published);
    const Result<uint64_t>* failure = nullptr;
    for (const auto& result : results)
        if (!result && !failure) failure = &result;
    if (failure && !batch)
        return sendText(conn, statusFor(failure->status().code()),
                        "broadcast failed: " + failure->status().message());
    if (!batch && !router)
        return send(conn, HttpResponse::json(200, "{\"seq\":" + std::to_string(results[0].value()) +
                                                      (duplicate->load() ? ",\"duplicate\":true}" : "}")));
    return send(conn,
                broadcastAnswer(targets, router, writes.size(), batch, results, failure, duplicate->load()));
}

// Every write of a broadcast, into every target room's log, counts against the client address's
// byte rate; past it the broadcast is refused whole with 429 and Retry-After. 0: it may go on.
int LogEndpoints::chargeWrites(mg_connection* conn, const std::string& address, size_t rooms,
                               const std::vector<std::string>& writes) {
    if (!deps_.writeRate) return 0;
    size_t bytes = 0;
    for (const auto& write : writes) bytes += write.size();
    auto wait = deps_.writeRate->charge(address, bytes * rooms);
    if (wait == net::WriteRateLimit::Clock::duration::zero()) return 0;
    auto seconds = std::chrono::ceil<std::chrono::seconds>(wait).count();
    HttpResponse response =
        HttpResponse::text(429, "write rate over limits.max_write_bytes_per_second_per_ip (" +
                                    std::to_string(deps_.writeRate->bytesPerSecond()) + " bytes/s)\n");
    response.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, seconds)));
    return send(conn, response);
}

// The page is written entry by entry as it is read (HistoryReader, StreamedAnswer), and ends at
// limits.max_history_page_bytes: {"truncated":..,"entries":[...],"next":SEQ,"more":bool}. The log
// is asked before the status goes out, so a log that cannot be read is a 503, not a cut answer; a
// read that fails later ends the page there, with "more":true and "next" where to go on.
int LogEndpoints::handleHistory(mg_connection* conn, const Route& route) {
    const mg_request_info* ri = mg_get_request_info(conn);
    auto subjects = deps_.rooms.subjects(route.party, route.room);
    if (!subjects) return sendText(conn, statusFor(subjects.status().code()), subjects.status().message());
    auto query = HistoryQuery::fromQueryString(ri->query_string ? ri->query_string : "");
    if (!query) return sendText(conn, 400, query.status().message());
    HistoryReader reader(deps_.bus, subjects.value().log, query->since, query->limit,
                         deps_.limits.max_history_page_bytes);
    if (Status opened = reader.open(); !opened)
        return sendText(conn, statusFor(opened.code()), opened.message());
    auto entry = reader.next();
    if (!entry) return sendText(conn, statusFor(entry.status().code()), entry.status().message());
    StreamedAnswer answer(conn, 200, "application/json");
    bool more = false;
    bool writing = answer.write(std::string("{\"truncated\":") + (reader.truncated() ? "true" : "false") +
                                ",\"entries\":[");
    for (bool first = true; writing && entry && entry->has_value(); first = false) {
        writing = answer.write(first ? "" : ",") && answer.write(historyEntryJson(**entry));
        entry = reader.next();
    }
    if (!writing) return 200;  // the client left; nothing more to say to it
    if (!entry) {
        log::warn("http", "history page cut short: " + entry.status().message(),
                  {{"room", route.party + "/" + route.room}});
        more = true;
    }
    more = more || reader.more();
    answer.write("],\"next\":" + std::to_string(reader.nextSince()) +
                 ",\"more\":" + (more ? "true" : "false") + "}");
    return answer.finish();
}

int LogEndpoints::handleReload(mg_connection* conn, const Route& route) {
    if (strcmp(mg_get_request_info(conn)->request_method, "POST") != 0)
        return sendText(conn, 405, "use POST");
    Status reloaded = deps_.reload(route.party);
    if (reloaded) return send(conn, HttpResponse::json(200, "{\"reloaded\":" + jsonQuote(route.party) + "}"));
    int status = reloaded.code() == Code::NotFound ? 404 : 422;
    return sendText(conn, status, "reload failed, the running version stays: " + reloaded.message());
}

}  // namespace partyline
