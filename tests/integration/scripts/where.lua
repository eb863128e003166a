-- Where room: tells each connection which node serves it, so a test behind a
-- load balancer can see how its clients were spread. onConnect greets the
-- connection alone with {"type":"welcome","id":...,"node":room.node}; every
-- message is broadcast to the room as it was sent.
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "welcome", id = conn.id, room = room.id, node = room.node }))
end

function Room.onMessage(room, conn, message)
  room:broadcast(message)
end

return Room
