-- Where room: tells each connection which node serves it, so a test behind a
-- load balancer can see how its clients were spread. onConnect greets the
-- connection alone with {"type":"welcome","id":...,"node":room.node}; every
-- message is broadcast to the room as it was sent. An HTTP request is answered
-- with {"count":N}, room:count() as this node sees it (every node's connections).
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "welcome", id = conn.id, room = room.id, node = room.node }))
end

function Room.onMessage(room, conn, message)
  room:broadcast(message)
end

function Room.onRequest(room, req)
  return { status = 200, body = json.encode({ count = room:count() }) }
end

return Room
