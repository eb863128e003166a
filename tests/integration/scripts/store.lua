-- Storage room: HTTP requests drive room.storage (party needs storage: true).
--   GET  .../get?key=K                 200 {"value":V,"rev":R}, value null when absent
--   POST .../put?key=K[&expect=R]      body: the value (JSON with ?json=1)
--                                      200 {"rev":R}, 409 {"conflict":true}
--   POST .../delete?key=K              200 {"deleted":true}
--   GET  .../list[?prefix=P]           200 {"K":V,...}
--   POST .../incr                      compare-and-set loop on key "count":
--                                      200 {"value":N,"conflicts":C,"node":...}
--   GET  .../started                   200 {"count":N}: what onStart read
--   GET  .../bad?case=...              storage calls a script gets wrong (500)
-- Any storage error the script does not catch answers 500 with the message.
local Room = {}
local started

local function answer(status, value)
  return { status = status, headers = { ["content-type"] = "application/json" }, body = json.encode(value) }
end

local function expect(q)
  if q.expect then return { expect = math.tointeger(tonumber(q.expect)) } end
end

function Room.onStart(room)
  started = room.storage:get("count") or 0
end

local bad = {
  numberKey = function(s) return s:get(42) end,
  bigValue = function(s) return s:put("big", string.rep("x", 4096)) end,
}

function Room.onRequest(room, req)
  local s, q, op = room.storage, req.query, req.rest:match("^/(%a+)")
  if op == "get" then
    local value, rev = s:get(q.key)
    return answer(200, { value = value == nil and json.null or value, rev = rev or json.null })
  elseif op == "put" then
    local value = req.body
    if q.json then value = json.decode(req.body) end
    local rev, err = s:put(q.key, value, expect(q))
    if err == "conflict" then return answer(409, { conflict = true, node = room.node }) end
    return answer(200, { rev = rev, node = room.node })
  elseif op == "delete" then
    local ok, err = s:delete(q.key, expect(q))
    if err == "conflict" then return answer(409, { conflict = true }) end
    return answer(200, { deleted = ok })
  elseif op == "list" then
    return answer(200, s:list(q.prefix))
  elseif op == "incr" then
    local conflicts = 0
    while true do
      local value, rev = s:get("count")
      local stored, err = s:put("count", (value or 0) + 1, { expect = rev or 0 })
      if stored then return answer(200, { value = (value or 0) + 1, conflicts = conflicts, node = room.node }) end
      conflicts = conflicts + 1
    end
  elseif op == "started" then
    return answer(200, { count = started })
  elseif op == "bad" then
    return answer(200, { result = bad[q.case](s) })
  end
  return answer(404, { error = "no such operation" })
end

return Room
