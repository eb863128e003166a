-- Echo room: every message goes to the whole room through the log.
--   binary frames are broadcast as binary;
--   "except-me" is broadcast to everyone but its sender (exclude);
--   "whoami" answers the sender alone with its id, room and party.
local Room = {}

function Room.onMessage(room, conn, message)
  if conn.binary then
    room:broadcast(message, { binary = true })
  elseif message == "except-me" then
    room:broadcast(message, { exclude = { conn.id } })
  elseif message == "whoami" then
    conn:send(json.encode({ type = "whoami", id = conn.id, room = room.id, party = room.party }))
  else
    room:broadcast(message)
  end
end

return Room
