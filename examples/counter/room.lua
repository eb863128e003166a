-- Counter room: one number per room, kept in the room's storage, changed
-- with compare-and-set so that no increment is lost, whichever node runs it.
--
-- Protocol (JSON text frames):
--   server -> joiner   {"type":"count","value":N,"rev":REV}   (rev 0: never changed)
--   client -> server   {"type":"add","by":K}                  (K an integer, -1000..1000)
--   server -> room     {"type":"count","value":N,"rev":REV}   after each change
--   server -> sender   {"type":"error","error":WHY}
-- HTTP:
--   GET  /parties/counter/ROOM   {"value":N,"rev":REV}
--   POST /parties/counter/ROOM   body {"by":K} (empty: 1) -> {"value":N,"rev":REV,"attempts":A}
--
-- The shards of a room on several nodes change the same key. Each change
-- reads the value and its revision, then writes value + by only if the
-- revision is still the one it read ({expect = rev}); a conflict means
-- another shard wrote in between, so it reads again and retries. Counts are
-- broadcast through the log; pages keep the one with the highest revision,
-- since two nodes' broadcasts may reach the log in either order.

local KEY = "count"
local MAX_BY = 1000
local MAX_ATTEMPTS = 50 -- conflicts in a row before giving up: far more than two busy nodes cause
local MAX_SAFE = 9007199254740991 -- 2^53 - 1: the largest count a page's JavaScript number holds exactly

local Room = {}

-- The count and its revision; 0, 0 before the first change.
local function read(room)
  local value, rev = room.storage:get(KEY)
  if value == nil then
    return 0, 0
  end
  return math.tointeger(value) or 0, rev
end

-- Adds `by` to the count. Returns the new value, its revision and the number
-- of attempts, or nil and why.
local function add(room, by)
  for attempt = 1, MAX_ATTEMPTS do
    local value, rev = read(room)
    local new = value + by
    if new > MAX_SAFE or new < -MAX_SAFE then
      return nil, "the count would leave -2^53..2^53"
    end
    local written, why = room.storage:put(KEY, new, { expect = rev })
    if written then
      return new, written, attempt
    end
    if why ~= "conflict" then
      return nil, why
    end
  end
  return nil, "the count changed under " .. MAX_ATTEMPTS .. " attempts in a row; try again"
end

-- The JSON object in `text`, or nil and why.
local function decodeObject(text)
  local ok, msg = pcall(json.decode, text)
  if not ok or type(msg) ~= "table" then
    return nil, "a message must be a JSON object"
  end
  return msg
end

-- msg.by as an integer within bounds, or nil and why.
local function amount(msg)
  local by = type(msg.by) == "number" and math.tointeger(msg.by)
  if not by or by < -MAX_BY or by > MAX_BY then
    return nil, "by must be an integer from -" .. MAX_BY .. " to " .. MAX_BY
  end
  return by
end

local function countMessage(value, rev)
  return json.encode({ type = "count", value = value, rev = rev })
end

function Room.onConnect(room, conn, req)
  conn:send(countMessage(read(room)))
end

-- The `by` of a client frame, or nil and why.
local function parseFrame(conn, message)
  if conn.binary then
    return nil, "binary frames are not counter messages"
  end
  local msg, why = decodeObject(message)
  if not msg then
    return nil, why
  end
  if msg.type ~= "add" then
    return nil, 'unknown message type (expected "add")'
  end
  return amount(msg)
end

-- The `by` of a POST body (empty: 1), or nil and why.
local function parseBody(body)
  if body == nil or body == "" then
    return 1
  end
  local msg, why = decodeObject(body)
  if not msg then
    return nil, why
  end
  return amount(msg)
end

local function reject(conn, why)
  conn:send(json.encode({ type = "error", error = why }))
end

function Room.onMessage(room, conn, message)
  local by, why = parseFrame(conn, message)
  if not by then
    return reject(conn, why)
  end
  local value, rev = add(room, by)
  if not value then
    return reject(conn, rev) -- add's second result is why
  end
  room:broadcast(countMessage(value, rev))
end

function Room.onRequest(room, req)
  local json_headers = { ["content-type"] = "application/json" }
  if req.method == "GET" then
    local value, rev = read(room)
    return { status = 200, headers = json_headers, body = { value = value, rev = rev } }
  end
  if req.method ~= "POST" then
    return { status = 405, headers = { allow = "GET, POST" }, body = "GET or POST\n" }
  end
  local by, why = parseBody(req.body)
  if not by then
    return { status = 400, headers = json_headers, body = { error = why } }
  end
  local value, rev, attempts = add(room, by)
  if not value then
    return { status = 409, headers = json_headers, body = { error = rev } } -- add's second result is why
  end
  room:broadcast(countMessage(value, rev))
  return { status = 200, headers = json_headers, body = { value = value, rev = rev, attempts = attempts } }
end

return Room
