#include "rooms/RoomEvents.h"

#include "net/WebhookSender.h"

namespace partyline {

void postRoomEvent(ShardContext& context, net::WebhookEventKind kind, const std::string& party,
                   const std::string& room) {
    if (!context.webhooks || !context.webhooks->wants(party, kind)) return;
    net::WebhookEvent event;
    event.kind = kind;
    event.party = party;
    event.room = room;
    context.webhooks->post(std::move(event));
}

void postConnectionEvent(ShardContext& context, net::WebhookEventKind kind, const std::string& party,
                         const std::string& room, const Client& client, uint16_t code, std::string reason) {
    if (!context.webhooks || !context.webhooks->wants(party, kind)) return;
    net::WebhookEvent event;
    event.kind = kind;
    event.party = party;
    event.room = room;
    event.connection = client.id();
    event.auth = client.auth();
    event.code = code;
    event.reason = std::move(reason);
    context.webhooks->post(std::move(event));
}

}  // namespace partyline
