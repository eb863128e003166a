-- A room of a party with presence: count, over onRequest: {count = room:count(), presence = the
-- error room:presence() raises, named = this node's connections whose conn.presence has a name}.
-- conn.presence is set (kept on this node, not announced), and
-- onPresence is defined so the node warns at load that it is never called. Each connection is
-- told its room's id.
local Room = {}

local calls = 0

function Room.onConnect(room, conn, req)
  if req.query.name then conn.presence = {name = req.query.name} end
  conn:send(json.encode({type = "joined", room = room.id}))  -- which room a router chose
end

function Room.onPresence(room, change)
  calls = calls + 1
end

function Room.onRequest(room, req)
  local ok, err = pcall(function() return room:presence() end)
  local named = 0
  for _, conn in ipairs(room:connections()) do
    if conn.presence and conn.presence.name then named = named + 1 end
  end
  return {body = {count = room:count(), presenceOk = ok, presence = tostring(err), calls = calls, named = named}}
end

return Room
