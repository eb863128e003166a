-- Fetch room: onRequest calls ?url= with fetch and answers with what it returned, as JSON:
-- {"status":..,"body":..,"bytes":..,"headers":{..}} or {"err":"why"}.
--   ?method=, ?timeout_ms=, ?header= (the value of X-Test), ?header_name= (a header of that name),
--   ?body_bytes=N (a body of N bytes); the request's own body is sent otherwise.
--   ?in=coroutine calls fetch inside a coroutine of the script, which is refused.
-- onBeforeConnect checks ?session= with the backend named by room.env.SESSION_URL, as an app
-- checks a session cookie; a WebSocket message "fetch <url>" is answered with the status or why.
local Room = {}

local function answer(res, err)
  local out
  if res then
    out = { status = res.status, body = res.body, bytes = #res.body, headers = res.headers }
  else
    out = { err = err }
  end
  return { status = 200, headers = { ["content-type"] = "application/json" }, body = json.encode(out) }
end

local function options(req)
  local q, opts = req.query, {}
  if q.method then opts.method = q.method end
  if q.timeout_ms then opts.timeout_ms = math.tointeger(tonumber(q.timeout_ms)) end
  if q.header then opts.headers = { ["x-test"] = q.header } end
  if q.header_name then opts.headers = { [q.header_name] = "v" } end
  if q.body_bytes then
    opts.body = string.rep("x", math.tointeger(tonumber(q.body_bytes)))
  elseif #req.body > 0 then
    opts.body = req.body
  end
  return opts
end

function Room.onRequest(room, req)
  if req.query["in"] == "coroutine" then
    local co = coroutine.create(function() return fetch(req.query.url) end)
    local ok, err = coroutine.resume(co)
    error(err, 0)
  end
  return answer(fetch(req.query.url, options(req)))
end

function Room.onBeforeConnect(room, req)
  if not room.env.SESSION_URL then return end
  local res, err = fetch(room.env.SESSION_URL .. "?session=" .. (req.query.session or ""))
  if not res then return { status = 503, body = "session check failed: " .. err } end
  if res.status ~= 200 then return { status = 401, body = "no session" } end
end

function Room.onMessage(room, conn, message)
  local url = message:match("^fetch (.+)$")
  if not url then return end
  local res, err = fetch(url)
  conn:send(res and tostring(res.status) or err)
end

return Room
