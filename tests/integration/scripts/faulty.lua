-- Faulty room: messages go to the room through the log, except two that
-- misbehave on purpose, for tests that count Lua errors:
--   "fail" raises an error;
--   "spin" loops until the instruction budget stops it.
local Room = {}

function Room.onMessage(room, conn, message)
  if message == "fail" then
    error("failing on purpose")
  elseif message == "spin" then
    while true do end
  end
  room:broadcast(message)
end

return Room
