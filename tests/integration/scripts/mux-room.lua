-- Mux room: a room joined over a partyline.mux.v1 socket (GET /v1/connect)
-- behaves as if joined on its own URL. onBeforeConnect refuses ?deny=1 with
-- 403 and a body; onConnect greets with what the room saw of the join
-- (conn:send): its id, room, count, a header of the socket's upgrade, a query
-- field and the token's sub; "state" answers conn.state's count of messages;
-- "close-me" closes this room's connection 4000; any other message is
-- broadcast (binary stays binary); onClose broadcasts who left with which code, so another client
-- sees it in the log.
local Room = {}

function Room.onBeforeConnect(room, req)
  if req.query.deny == "1" then
    return { status = 403, body = "denied by the room" }
  end
end

function Room.onConnect(room, conn, req)
  conn.state.messages = 0
  conn:send(json.encode({
    type = "hello",
    id = conn.id,
    room = room.party .. "/" .. room.id,
    count = room:count(),
    probe = req.headers["x-probe"] or json.null,
    name = req.query.name or json.null,
    sub = conn.auth and conn.auth.sub or json.null,
  }))
end

function Room.onMessage(room, conn, message)
  conn.state.messages = conn.state.messages + 1
  if message == "state" then
    conn:send("state " .. conn.state.messages)
  elseif message == "close-me" then
    conn:close(4000, "asked to")
  else
    room:broadcast(message, { binary = conn.binary })
  end
end

function Room.onClose(room, conn, code, reason)
  room:broadcast("closed " .. conn.id .. " " .. code)
end

return Room
