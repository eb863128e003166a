-- The room API over real nodes: conn.tags and room:connections(tag),
-- conn.state read through room:connection(id), room:history, now().
--
-- WebSocket: ?team=T tags the connection {T}; frames:
--   "team T TEXT"  conn:send(TEXT) to this shard's connections tagged T
--   "name N"       conn.state.name = N, answers "named N"
--   "whois ID"     answers "ID is NAME" from room:connection(ID).state, or "ID is unknown"
-- HTTP:
--   GET  .../history?since=S&limit=N  room:history as JSON {entries=, truncated=}
--   GET  .../started                 {count=, last=} of the writes onStart read
--   GET  .../now                     {now = now()}
--   POST .../                        room:broadcast(body) -> {seq=}
local Room = {}

local started = { count = 0, last = 0 }

function Room.onStart(room)
  local since = 0
  while true do
    local page = assert(room:history({ since = since, limit = 1000 }))
    if #page == 0 then
      break
    end
    started.count = started.count + #page
    since = page[#page].seq
  end
  started.last = since
end

function Room.onConnect(room, conn, req)
  if req.query.team then
    conn.tags = { req.query.team }
  end
end

function Room.onMessage(room, conn, message)
  local team, text = message:match("^team (%S+) (.*)$")
  if team then
    for _, c in ipairs(room:connections(team)) do
      c:send(text)
    end
    return
  end
  local name = message:match("^name (.+)$")
  if name then
    conn.state.name = name
    conn:send("named " .. name)
    return
  end
  local id = message:match("^whois (.+)$")
  if id then
    local other = room:connection(id)
    conn:send(id .. " is " .. (other and other.state.name or "unknown"))
  end
end

local function answer(status, value)
  return { status = status, headers = { ["content-type"] = "application/json" }, body = json.encode(value) }
end

function Room.onRequest(room, req)
  if req.method == "POST" then
    return answer(200, { seq = room:broadcast(req.body) })
  end
  if req.rest == "/history" then
    local page, truncated = room:history({
      since = math.tointeger(tonumber(req.query.since or "0")),
      limit = math.tointeger(tonumber(req.query.limit or "100")),
    })
    if not page then
      return answer(503, { error = truncated })
    end
    return answer(200, { entries = page, truncated = truncated })
  end
  if req.rest == "/started" then
    return answer(200, started)
  end
  if req.rest == "/now" then
    return answer(200, { now = now() })
  end
  return answer(404, { error = "unknown path" })
end

return Room
