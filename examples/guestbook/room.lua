-- Guestbook room: visitors who signed in with the app's backend sign the
-- room's book; the entries are kept in that backend, and the lobby hears of
-- every guestbook.
--
-- Protocol (JSON text frames), on /parties/guestbook/ROOM?token=TOKEN:
--   server -> joiner   {"type":"welcome","room":ROOM,"user":{"name":NAME},"entries":[ENTRY, ...]}
--   client -> server   {"type":"sign","text":TEXT}
--   server -> room     {"type":"entry","entry":ENTRY}   ENTRY: {"id","name","text","at"}
--   server -> sender   {"type":"error","error":WHY}
-- GET /parties/guestbook/ROOM answers {"room":ROOM,"entries":[ENTRY, ...]}.
--
-- The calls out of the room:
--   onBeforeConnect  GET  BACKEND/sessions/TOKEN: 200 admits, anything else refuses (401)
--   onStart          GET  BACKEND/rooms/guestbook:ROOM: the entries saved before
--   onAlarm          PUT  BACKEND/rooms/guestbook:ROOM: the entries, within
--                    SAVE_DELAY_MS of a change (one save for a burst of them)
--   and room.parties.lobby:get("main"):broadcast(...) when the first signed-in
--   visitor joins this shard and after each save, so the lobby lists the room
--   with its number of entries (a refused client announces nothing).
--
-- An entry goes through the room's log (room:broadcast) and every shard adds
-- it in onWrite, so shards on several nodes hold the same list. A shard that
-- starts reads the backend's copy, then the log, for entries written after
-- the last save (entries have ids, so one seen in both is kept once).

local MAX_TEXT = 500 -- characters
local MAX_ENTRIES = 1000
local SAVE_DELAY_MS = 1000
local FETCH_TIMEOUT_MS = 3000

local Room = {}

local entries = json.array() -- in the order the log holds them
local known = {} -- entry id -> true
local loaded = false -- the backend's copy has been read
local admitted = {} -- token -> user, from onBeforeConnect to the onConnect that follows
local announced = false -- this shard told the lobby of the room
local lastSeq = 0 -- the last write of the log this shard followed

-- ---- the backend --------------------------------------------------------------

-- Percent-encodes a path segment.
local function escape(s)
  return (s:gsub("[^%w%-_.~]", function(c)
    return string.format("%%%02X", string.byte(c))
  end))
end

local function backend(room, method, path, body)
  local opts = { method = method, timeout_ms = FETCH_TIMEOUT_MS }
  if body ~= nil then
    opts.body = json.encode(body)
    opts.headers = { ["content-type"] = "application/json" }
  end
  return fetch(room.env.BACKEND .. path, opts)
end

local function stateUrl(room)
  return "/rooms/" .. escape(room.party .. ":" .. room.id)
end

-- The user of a session token, or nil and the refusal to answer with.
local function checkSession(room, token)
  if type(token) ~= "string" or token == "" then
    return nil, { status = 401, body = "sign in first: no token\n" }
  end
  local res, err = backend(room, "GET", "/sessions/" .. escape(token))
  if not res then
    return nil, { status = 503, body = "cannot check the session now: " .. err .. "\n" }
  end
  if res.status ~= 200 then
    return nil, { status = 401, body = "sign in again: the session is not valid\n" }
  end
  local ok, body = pcall(json.decode, res.body)
  if not ok or type(body) ~= "table" or type(body.user) ~= "table" or type(body.user.name) ~= "string" then
    return nil, { status = 502, body = "the backend's answer is not a session\n" }
  end
  return { name = body.user.name }
end

-- ---- entries ------------------------------------------------------------------

local function add(entry)
  if known[entry.id] or #entries >= MAX_ENTRIES then
    return false
  end
  known[entry.id] = true
  entries[#entries + 1] = entry
  return true
end

-- An entry with exactly its fields, or nil when `e` is not one.
local function entryFrom(e)
  if type(e) ~= "table" or type(e.id) ~= "string" or type(e.name) ~= "string" or type(e.text) ~= "string" then
    return nil
  end
  return { id = e.id, name = e.name, text = e.text, at = math.tointeger(e.at) or 0 }
end

-- The entry in a write of the log, or nil (a write of another kind).
local function entryOf(data)
  local ok, msg = pcall(json.decode, data)
  if not ok or type(msg) ~= "table" or msg.type ~= "entry" then
    return nil
  end
  return entryFrom(msg.entry)
end

-- Saves within SAVE_DELAY_MS, unless a save is already set for later. An
-- alarm whose time has come is running or has just run (it is cleared after
-- onAlarm returns), so it may not see this change: set another.
local function scheduleSave(room)
  local due = room:getAlarm()
  if not due or due <= now() then
    room:setAlarm(SAVE_DELAY_MS)
  end
end

local function announce(room)
  local seq, err = room.parties.lobby:get("main"):broadcast({
    type = "guestbook",
    id = room.id,
    entries = #entries,
    at = now(),
  })
  if not seq then
    log.warn("cannot tell the lobby: " .. tostring(err))
  end
end

-- Follows one write of the log. True when it held a new entry.
local function follow(seq, data)
  lastSeq = seq
  local entry = entryOf(data)
  return entry ~= nil and add(entry)
end

-- Reads the log from the last write followed to its end, so this shard has
-- every entry stored so far. True when it found new ones.
local function catchUp(room)
  local added = false
  while true do
    local page, err = room:history({ since = lastSeq, limit = 1000 })
    if not page then
      log.warn("cannot read the guestbook's log: " .. tostring(err))
      return added
    end
    if #page == 0 then
      return added
    end
    for _, write in ipairs(page) do
      added = follow(write.seq, write.data) or added
    end
  end
end

-- Reads the backend's copy, then the log. False when the backend cannot be
-- read now: the next handler tries again, and nothing is saved meanwhile, so
-- a copy never replaces entries it has not seen.
local function load(room)
  local res, err = backend(room, "GET", stateUrl(room))
  if not res then
    log.warn("cannot load the guestbook: " .. err)
    return false
  end
  if res.status == 200 then
    local ok, state = pcall(json.decode, res.body)
    if ok and type(state) == "table" and type(state.entries) == "table" then
      for _, e in ipairs(state.entries) do
        local entry = entryFrom(e)
        if entry then
          add(entry)
        end
      end
    else
      log.warn("the backend's copy of the guestbook is not one: starting from the log")
    end
  elseif res.status ~= 404 then -- 404: never saved
    log.warn("cannot load the guestbook: backend answered " .. res.status)
    return false
  end
  loaded = true
  if catchUp(room) then
    scheduleSave(room) -- entries the last save missed
  end
  return true
end

-- ---- handlers -----------------------------------------------------------------

function Room.onStart(room)
  load(room)
end

function Room.onBeforeConnect(room, req)
  local user, refusal = checkSession(room, req.query.token)
  if not user then
    return refusal
  end
  admitted[req.query.token] = user
end

function Room.onConnect(room, conn, req)
  local token = req.query.token
  local user = admitted[token]
  admitted[token] = nil
  if not user then
    user = checkSession(room, token)
    if not user then
      conn:close(4001, "sign in again")
      return
    end
  end
  if not loaded and not load(room) then
    conn:close(4003, "the guestbook cannot be read now, try again")
    return
  end
  conn.state.user = user
  conn:send(json.encode({ type = "welcome", room = room.id, user = user, entries = entries }))
  if not announced then
    announced = true
    announce(room)
  end
end

local function reject(conn, why)
  conn:send(json.encode({ type = "error", error = why }))
end

function Room.onMessage(room, conn, message)
  if not conn.state.user then
    return -- refused in onConnect, closing
  end
  if conn.binary then
    return reject(conn, "binary frames are not guestbook messages")
  end
  local ok, msg = pcall(json.decode, message)
  if not ok or type(msg) ~= "table" or msg.type ~= "sign" then
    return reject(conn, 'a message must be {"type":"sign","text":TEXT}')
  end
  local n = type(msg.text) == "string" and utf8.len(msg.text)
  if not n or n == 0 or n > MAX_TEXT then
    return reject(conn, "text must be 1 to " .. MAX_TEXT .. " characters")
  end
  if not loaded and not load(room) then
    return reject(conn, "the guestbook cannot be read now, try again")
  end
  if #entries >= MAX_ENTRIES then
    return reject(conn, "the guestbook is full")
  end
  local entry = {
    id = base64.urlencode(crypto.random(12)),
    name = conn.state.user.name,
    text = msg.text,
    at = now(),
  }
  local seq, err = room:broadcast(json.encode({ type = "entry", entry = entry }))
  if not seq then
    reject(conn, "the log did not take it: " .. tostring(err))
  end
end

function Room.onWrite(room, write)
  if not loaded then
    return -- load reads the log from its start, this write included
  end
  if write.seq > lastSeq and follow(write.seq, write.data) then
    scheduleSave(room)
  end
end

function Room.onAlarm(room)
  if not loaded and not load(room) then
    room:setAlarm(5 * SAVE_DELAY_MS) -- the backend is away: try later
    return
  end
  catchUp(room) -- the alarm may run on a shard that has not had every write yet
  local res, err = backend(room, "PUT", stateUrl(room), { entries = entries })
  if not res or res.status >= 300 then
    log.warn("cannot save the guestbook: " .. (err or ("backend answered " .. res.status)))
    room:setAlarm(5 * SAVE_DELAY_MS)
    return
  end
  announce(room)
end

function Room.onRequest(room, req)
  if req.method ~= "GET" then
    return { status = 405, headers = { allow = "GET" }, body = "GET only\n" }
  end
  return { status = 200, body = { room = room.id, entries = entries } }
end

return Room
