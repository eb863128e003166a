-- Welcome room: onConnect greets the new connection alone with its id and
-- its room; every message is broadcast as JSON naming its sender and room.
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "welcome", id = conn.id, room = room.id, party = room.party }))
end

function Room.onMessage(room, conn, message)
  room:broadcast(json.encode({ type = "message", from = conn.id, room = room.id, text = message }))
end

function Room.onRequest(room, req)
  return {
    status = 200,
    headers = { ["content-type"] = "application/json" },
    body = json.encode({ room = room.id, party = room.party }),
  }
end

return Room
