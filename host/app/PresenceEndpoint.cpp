#include "app/PresenceEndpoint.h"

#include <civetweb.h>

#include <cstring>

#include "app/HttpIo.h"
#include "app/RoomRefusal.h"
#include "app/Router.h"
#include "core/Json.h"

namespace partyline {

std::string presenceJson(const std::string& room, const std::vector<PresenceEntry>& entries) {
    std::string json = "{\"room\":" + jsonQuote(room) + ",\"connections\":[";
    bool first = true;
    for (const auto& e : entries) {
        json += first ? "{" : ",{";
        first = false;
        // info is JSON text the host encoded itself (lua::toJson), so it goes in as it is.
        json += "\"id\":" + jsonQuote(e.id) + ",\"node\":" + jsonQuote(e.node) +
                ",\"info\":" + (e.info.empty() ? std::string("null") : e.info) + "}";
    }
    return json + "]}";
}

std::string presenceCountsJson(const std::string& room, const std::map<std::string, size_t>& counts) {
    size_t total = 0;
    std::string nodes;
    for (const auto& [node, count] : counts) {
        total += count;
        nodes += (nodes.empty() ? "{" : ",{") + std::string("\"node\":") + jsonQuote(node) +
                 ",\"count\":" + std::to_string(count) + "}";
    }
    return "{\"room\":" + jsonQuote(room) + ",\"count\":" + std::to_string(total) + ",\"nodes\":[" + nodes +
           "]}";
}

int PresenceEndpoint::handle(mg_connection* conn, const Route& route, const std::string& clientAddress) {
    const char* method = mg_get_request_info(conn)->request_method;
    if (strcmp(method, "GET") != 0) {
        HttpResponse response = HttpResponse::text(405, "use GET\n");
        response.headers.emplace_back("Allow", "GET");
        return send(conn, response);
    }
    const Party* party = parties_.find(route.party);
    if (!party) return sendText(conn, 404, "no party named '" + route.party + "'");
    if (party->isRouter())
        return sendText(conn, 400,
                        "party '" + route.party + "' is a router: ask for the presence of its shard rooms");
    auto shard = rooms_.open(route.party, route.room, clientAddress);
    if (!shard) return send(conn, roomRefusal(shard.status()));
    if (party->presenceCounts()) {
        Waiter<std::map<std::string, size_t>> counts;
        shard.value()->presenceCounts(counts.callback());
        if (counts.future.wait_for(kRequestTimeout) != std::future_status::ready)
            return sendText(conn, 504, "the room did not answer in time");
        return send(conn, HttpResponse::json(
                              200, presenceCountsJson(route.party + "/" + route.room, counts.future.get())));
    }
    Waiter<std::vector<PresenceEntry>> waiter;
    shard.value()->presenceSnapshot(waiter.callback());
    if (waiter.future.wait_for(kRequestTimeout) != std::future_status::ready)
        return sendText(conn, 504, "the room did not answer in time");
    return send(conn,
                HttpResponse::json(200, presenceJson(route.party + "/" + route.room, waiter.future.get())));
}

}  // namespace partyline
