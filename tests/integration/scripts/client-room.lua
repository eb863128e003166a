-- Client-library room: writes arrive through the log (the built-in broadcast,
-- or a client's message, broadcast as it came), except for these messages:
--   "direct:TEXT"       conn:send(TEXT) to the sender alone, as a text frame;
--   "direct-binary:TEXT" conn:send(TEXT, {binary = true});
--   "close"             conn:close(4000, "asked to close"): a server-side close.
-- onConnect greets the connection alone with {"type":"hello","id":...}: once a
-- client has it, its shard admitted it, after any replay it asked for.
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "hello", id = conn.id, node = room.node, since = req.query.since or json.null }))
end

function Room.onMessage(room, conn, message)
  if conn.binary then
    room:broadcast(message, { binary = true })
  elseif message:sub(1, 7) == "direct:" then
    conn:send(message:sub(8))
  elseif message:sub(1, 14) == "direct-binary:" then
    conn:send(message:sub(15), { binary = true })
  elseif message == "close" then
    conn:close(4000, "asked to close")
  else
    room:broadcast(message)
  end
end

return Room
