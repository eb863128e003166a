-- Slow-consumer room: writes arrive through the log (the built-in broadcast).
-- onConnect greets the new connection alone with {"type":"hello","id":...};
-- onClose logs the code and reason the connection was closed with, so a test
-- can read why the node closed a client that never saw the Close frame.
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "hello", id = conn.id }))
end

function Room.onClose(room, conn, code, reason)
  log.info("closed id=" .. conn.id .. " code=" .. tostring(code) .. " reason=" .. tostring(reason))
end

return Room
