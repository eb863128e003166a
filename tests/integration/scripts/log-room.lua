-- Log room: writes arrive only through the log (the built-in broadcast, or a
-- client's message, which is broadcast as it came). onConnect greets the new
-- connection alone with {"type":"hello","id":...,"node":...}: once a client
-- has it, its shard admitted it, after any replay it asked for with ?since=.
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "hello", id = conn.id, node = room.node }))
end

function Room.onMessage(room, conn, message)
  room:broadcast(message)
end

return Room
