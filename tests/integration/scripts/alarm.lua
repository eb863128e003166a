-- Alarm room: HTTP requests drive the room's one alarm.
--   POST .../set?ms=N     room:setAlarm(N)     200 {"due":T} (ms since the epoch)
--   POST .../cancel       room:cancelAlarm()   200 {"cancelled":true}
--   GET  .../get          room:getAlarm()      200 {"due":T or null}
-- onAlarm writes {"alarm":N,"node":...,"at":...,"starts":S} to the room's log,
-- N counting the alarms this shard ran, S the times onStart ran on it.
local Room = {}
local starts, fired = 0, 0

local function answer(value)
  return { status = 200, headers = { ["content-type"] = "application/json" }, body = json.encode(value) }
end

function Room.onStart(room)
  starts = starts + 1
end

function Room.onAlarm(room)
  fired = fired + 1
  room:broadcast(json.encode({ alarm = fired, node = room.node, at = now(), starts = starts }))
end

function Room.onRequest(room, req)
  local op = req.rest:match("^/(%a+)")
  if op == "set" then
    return answer({ due = room:setAlarm(tonumber(req.query.ms)) })
  elseif op == "cancel" then
    return answer({ cancelled = room:cancelAlarm() })
  elseif op == "get" then
    return answer({ due = room:getAlarm() or json.null })
  end
  return { status = 404, body = "no such operation" }
end

return Room
