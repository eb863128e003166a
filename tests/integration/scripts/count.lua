-- Count room: answers "count" with room:count(), the room's connections on every node.
local Room = {}

function Room.onMessage(room, conn, message)
  if message == "count" then conn:send("count=" .. room:count()) end
end

return Room
