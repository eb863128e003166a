-- Chat room: the default party `main` of partyline.
--
-- Protocol (JSON text frames):
--   server -> joiner   {"type":"welcome","handle":HANDLE,"room":ROOM,"online":[{"handle":..,"name":..},...]}
--   client -> server   {"type":"chat","text":TEXT,"name":NAME}   (name optional)
--   server -> room     {"type":"chat","from":NAME or HANDLE,"handle":HANDLE,"text":TEXT,"at":TIME}
--   server -> each     {"type":"join","handle":HANDLE,"name":NAME}, {"type":"leave","handle":HANDLE,"name":NAME}
--                      and {"type":"name","handle":HANDLE,"name":NAME} (a new name), from presence
--   server -> sender   {"type":"error","error":WHY} when a frame is not a valid chat message
-- HANDLE is an opaque name for one connection, made by the room: connection
-- ids are never broadcast, so no one learns another participant's id.
-- GET /parties/main/ROOM answers {"room":ROOM}.
--
-- Every chat line goes through room:broadcast, so it reaches the room's
-- clients on every node in one order, and a client that reconnects resumes
-- after the last line it saw. Who is here is presence, not the log: each
-- connection's conn.presence holds its handle and name, and onPresence, run
-- on every shard for a connection joining or leaving on any node, tells this
-- shard's connections with conn:send. So a replaying client never sees its
-- own old join or leave again.

local MAX_TEXT = 2000 -- characters
local MAX_NAME = 64 -- characters

local Room = {}

-- A connection's handle: 12 hex digits from the system's random source.
local function newHandle()
  return (crypto.random(6):gsub(".", function(c)
    return string.format("%02x", c:byte())
  end))
end

-- Length in characters, or nil when the text is not valid UTF-8.
local function length(text)
  if utf8 and utf8.len then
    return utf8.len(text)
  end
  return #text
end

local function reject(conn, why)
  conn:send(json.encode({ type = "error", error = why }))
end

-- Returns the chat message in a frame, or nil and why it is not one.
local function parse(conn, message)
  if conn.binary then
    return nil, "binary frames are not chat messages"
  end
  local ok, msg = pcall(json.decode, message)
  if not ok or type(msg) ~= "table" then
    return nil, "a message must be a JSON object"
  end
  if msg.type ~= "chat" then
    return nil, 'unknown message type (expected "chat")'
  end
  if type(msg.text) ~= "string" then
    return nil, "text must be a string"
  end
  local n = length(msg.text)
  if not n or n == 0 or n > MAX_TEXT then
    return nil, "text must be 1 to " .. MAX_TEXT .. " characters"
  end
  if msg.name ~= nil then
    local m = type(msg.name) == "string" and length(msg.name)
    if not m or m > MAX_NAME then
      return nil, "name must be a string of at most " .. MAX_NAME .. " characters"
    end
    if m == 0 then
      msg.name = nil
    end
  end
  return msg
end

-- Whom this shard's connections were told about (by a welcome's list or a
-- notice): connection id -> {handle, name}.
local told = {}

-- A connection's events all run on the shard it is connected to, so its
-- handle and name live in conn.state.
function Room.onConnect(room, conn, req)
  conn.state.handle = newHandle()
  conn.presence = { handle = conn.state.handle }
  local online = json.array({})
  for _, entry in ipairs(room:presence()) do
    if entry.id ~= conn.id and entry.info then
      table.insert(online, { handle = entry.info.handle, name = entry.info.name })
      told[entry.id] = entry.info -- the newcomer knows them: their leave is a notice
    end
  end
  conn:send(json.encode({ type = "welcome", handle = conn.state.handle, room = room.id, online = online }))
end

-- Tells this shard's connections who joined and who left, anywhere: the
-- difference between who is here now and whom they were told about. A changed
-- name is a "name" notice; a connection whose presence is not set yet (it is
-- set when onConnect returns) is not here yet.
function Room.onPresence(room, change)
  local here, rejoined = {}, {}
  for _, entry in ipairs(room:presence()) do
    if entry.info then
      here[entry.id] = entry.info
    end
  end
  for _, entry in ipairs(change.joined) do
    rejoined[entry.id] = true
  end
  for _, entry in ipairs(change.left) do
    if not rejoined[entry.id] then
      here[entry.id] = nil -- gone, even where the list above still had it
    end
  end
  local notices = {}
  for id, info in pairs(here) do
    local before = told[id]
    if not before then
      table.insert(notices, { id = id, frame = json.encode({ type = "join", handle = info.handle, name = info.name }) })
    elseif before.name ~= info.name then
      table.insert(notices, { id = id, frame = json.encode({ type = "name", handle = info.handle, name = info.name }) })
    end
  end
  for id, info in pairs(told) do
    if not here[id] then
      table.insert(notices, { id = id, frame = json.encode({ type = "leave", handle = info.handle, name = info.name }) })
    end
  end
  told = here
  for _, conn in ipairs(room:connections()) do
    for _, notice in ipairs(notices) do
      if notice.id ~= conn.id then
        conn:send(notice.frame)
      end
    end
  end
end

function Room.onMessage(room, conn, message)
  local msg, why = parse(conn, message)
  if not msg then
    reject(conn, why)
    return
  end
  local name = msg.name or conn.state.name
  if name ~= conn.state.name then
    conn.state.name = name
    conn.presence = { handle = conn.state.handle, name = name }
  end
  room:broadcast(json.encode({
    type = "chat",
    from = msg.name or conn.state.handle,
    handle = conn.state.handle,
    text = msg.text,
    at = now(),
  }))
end

function Room.onRequest(room, req)
  if req.method ~= "GET" then
    return { status = 405, headers = { allow = "GET" }, body = "only GET\n" }
  end
  return {
    status = 200,
    headers = { ["content-type"] = "application/json" },
    body = json.encode({ room = room.id }),
  }
end

return Room
