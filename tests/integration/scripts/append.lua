-- Append room: optimistic writes. POST .../append?expect=N appends the body
-- to the room's log only if the log's last sequence for the room is still N
-- (room:append with {expect = N}; 0 means the room has no write yet).
--   200 {"seq":S,"node":...}        stored as S
--   409 {"conflict":true,"node":...} another write came first: read the log, retry
--   503 {"error":...}                the log could not be reached
local Room = {}

local function answer(status, value)
  return { status = status, headers = { ["content-type"] = "application/json" }, body = json.encode(value) }
end

function Room.onRequest(room, req)
  local expect = math.tointeger(tonumber(req.query and req.query.expect))
  if not expect or expect < 0 then
    return answer(400, { error = "expect=<seq> is required" })
  end
  local seq, err = room:append(req.body, { expect = expect })
  if seq then
    return answer(200, { seq = seq, node = room.node })
  end
  if err == "conflict" then
    return answer(409, { conflict = true, node = room.node })
  end
  return answer(503, { error = tostring(err) })
end

return Room
