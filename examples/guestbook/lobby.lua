-- Lobby room of the guestbook example: the list of guestbooks, and the
-- page's way to sign in.
--
-- Guestbook rooms write {"type":"guestbook","id":ROOM,"entries":N,"at":MS}
-- into this room's log (room.parties.lobby:get("main"):broadcast) when a
-- signed-in visitor first joins and after each save. A write of the log reaches the lobby's clients
-- as it is, so the page sees each announcement live; the room also follows
-- them (onWrite, and the log from the start in onStart) to greet a newcomer
-- with the whole list.
--
-- Protocol (JSON text frames), on /parties/lobby/main:
--   server -> joiner   {"type":"guestbooks","guestbooks":[{"id","entries","at"}, ...]}   newest first
--   server -> room     {"type":"guestbook","id":ROOM,"entries":N,"at":MS}
-- HTTP:
--   GET  /parties/lobby/main            {"guestbooks":[...]}
--   POST /parties/lobby/main/sessions   {"name":NAME} -> the backend's answer: 201 {"token","user"}
--   GET  /parties/lobby/main/sessions/TOKEN -> the backend's answer: 200 {"user"} or 401
--   DELETE /parties/lobby/main/sessions/TOKEN -> the backend's answer: 204 (signed out)
-- The sessions calls pass through to the backend, so the page needs only
-- the node's address.

local MAX_GUESTBOOKS = 200 -- the most recently announced are kept

local Room = {}

local books = {} -- room id -> {id, entries, at}
local count = 0 -- guestbooks in books
local lastSeq = 0 -- the last write of the log followed

-- Forgets the guestbook announced longest ago.
local function forgetOldest()
  local oldest
  for _, book in pairs(books) do
    if not oldest or book.at < oldest.at then
      oldest = book
    end
  end
  books[oldest.id] = nil
  count = count - 1
end

local function follow(seq, data)
  lastSeq = seq
  local ok, msg = pcall(json.decode, data)
  if not ok or type(msg) ~= "table" or msg.type ~= "guestbook" or type(msg.id) ~= "string" then
    return
  end
  if not books[msg.id] then
    count = count + 1
  end
  books[msg.id] = { id = msg.id, entries = math.tointeger(msg.entries) or 0, at = math.tointeger(msg.at) or 0 }
  if count > MAX_GUESTBOOKS then
    forgetOldest()
  end
end

-- The guestbooks, most recently announced first.
local function list()
  local out = json.array()
  for _, book in pairs(books) do
    out[#out + 1] = book
  end
  table.sort(out, function(a, b)
    if a.at ~= b.at then
      return a.at > b.at
    end
    return a.id < b.id
  end)
  return out
end

function Room.onStart(room)
  while true do
    local page, err = room:history({ since = lastSeq, limit = 1000 })
    if not page then
      log.warn("cannot read the lobby's log: " .. tostring(err))
      return
    end
    if #page == 0 then
      return
    end
    for _, write in ipairs(page) do
      follow(write.seq, write.data)
    end
  end
end

function Room.onWrite(room, write)
  if write.seq > lastSeq then
    follow(write.seq, write.data)
  end
end

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "guestbooks", guestbooks = list() }))
end

function Room.onMessage(room, conn, message)
  conn:send(json.encode({ type = "error", error = "the lobby only lists guestbooks" }))
end

-- Passes a sessions call through to the backend and answers as it did.
local function sessions(room, req)
  local path = "/sessions" .. req.rest:sub(#"/sessions" + 1)
  local opts = { method = req.method, timeout_ms = 3000 }
  if req.method == "POST" then
    opts.body = req.body
    opts.headers = { ["content-type"] = "application/json" }
  end
  local res, err = fetch(room.env.BACKEND .. path, opts)
  if not res then
    return { status = 503, body = { error = "the backend cannot be reached: " .. err } }
  end
  if res.status == 204 then
    return { status = 204 }
  end
  return { status = res.status, headers = { ["content-type"] = "application/json" }, body = res.body }
end

function Room.onRequest(room, req)
  local one = req.rest:match("^/sessions/[%w_-]+$")
  if req.rest == "/sessions" and req.method == "POST" or one and (req.method == "GET" or req.method == "DELETE") then
    return sessions(room, req)
  end
  if (req.rest == "" or req.rest == "/") and req.method == "GET" then
    return { status = 200, body = { guestbooks = list() } }
  end
  return { status = 404, body = { error = "GET /, POST /sessions, GET or DELETE /sessions/TOKEN" } }
end

return Room
