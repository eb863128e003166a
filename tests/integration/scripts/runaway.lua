-- Runaway room: misbehaves on request, to show that one room cannot take the
-- node or another room down.
--   "spin"    loops forever: the instruction budget stops it
--   "bomb"    allocates without bound: the memory cap stops it
--   "tamper"  replaces a string method and sets a global in this room's state
--   "probe"   answers with what that method and global look like here
--   anything else is answered "pong:<message>": the shard still serves
-- An HTTP request is answered with a table whose metatable raises.
local Room = {}

function Room.onMessage(room, conn, message)
  if message == "spin" then
    while true do end
  elseif message == "bomb" then
    local kept = {}
    for i = 1, math.huge do kept[i] = string.rep("x", 1024) .. i end
  elseif message == "tamper" then
    string.upper = function() return "tampered" end
    rawset(_G, "marker", "set")
    conn:send("tampered")
  elseif message == "probe" then
    conn:send(("abc"):upper() .. " " .. tostring(marker))
  else
    conn:send("pong:" .. message)
  end
end

-- The answer's metatable raises for every field it lacks: the node must read
-- the answer without calling it, or the error would escape the handler.
function Room.onRequest(room, req)
  return setmetatable({ status = 200, body = "read raw" }, { __index = function(t, k) error("trap " .. k) end })
end

return Room
