-- Presence on every node: conn.presence from ?name= and from messages, and what this shard
-- sees, over onRequest: {presence = room:presence(), seen = the view onPresence built,
-- calls = onPresence calls, count = room:count()}.
local Room = {}

local seen, calls = {}, 0

local function key(e) return e.node .. "/" .. e.id end

function Room.onConnect(room, conn, req)
  if req.query.name then conn.presence = {name = req.query.name} end
end

function Room.onMessage(room, conn, message)
  local verb, arg = message:match("^(%a+) ?(.*)$")
  if verb == "name" then
    conn.presence = {name = arg}
  elseif verb == "big" then
    conn.presence = {blob = string.rep("x", 2000)}
  elseif verb == "fn" then
    conn.presence = {f = print}
  end
  conn:send("done " .. message)
end

function Room.onPresence(room, change)
  calls = calls + 1
  for _, e in ipairs(change.left) do seen[key(e)] = nil end
  for _, e in ipairs(change.joined) do seen[key(e)] = e end
end

function Room.onRequest(room, req)
  local list = json.array()
  for _, e in pairs(seen) do list[#list + 1] = e end
  return {body = {presence = room:presence(), seen = list, calls = calls, count = room:count()}}
end

return Room
