-- Request room: onRequest answers with what it was given, as JSON.
--   POST .../say broadcasts the body to the room and answers {"seq":N};
--   ?status=N sets the answer's status.
-- A WebSocket connection is greeted with {"type":"joined"} so a test knows
-- it is in the room before it makes writes.
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "joined", id = conn.id }))
end

local function endsWith(s, suffix)
  return #s >= #suffix and s:sub(-#suffix) == suffix
end

function Room.onRequest(room, req)
  if req.method == "POST" and endsWith(req.path, "/say") then
    local seq = room:broadcast(req.body)
    return {
      status = 200,
      headers = { ["content-type"] = "application/json" },
      body = json.encode({ seq = seq }),
    }
  end
  local status = tonumber(req.query and req.query.status) or 200
  return {
    status = status,
    headers = {
      ["content-type"] = "application/json",
      ["x-room"] = room.id,
      ["x-party"] = room.party,
    },
    body = json.encode({
      method = req.method,
      path = req.path,
      url = req.url,
      query = req.query,
      headers = req.headers,
      body = req.body,
      room = room.id,
      party = room.party,
    }),
  }
end

return Room
