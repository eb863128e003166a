-- Chat room: the default party `main` of partyline.
--
-- Protocol (JSON text frames):
--   server -> joiner   {"type":"welcome","handle":HANDLE,"room":ROOM}
--   client -> server   {"type":"chat","text":TEXT,"name":NAME}   (name optional)
--   server -> room     {"type":"chat","from":NAME or HANDLE,"handle":HANDLE,"text":TEXT,"at":TIME}
--   server -> room     {"type":"join","handle":HANDLE} and {"type":"leave","handle":HANDLE,"name":NAME}
--   server -> sender   {"type":"error","error":WHY} when a frame is not a valid chat message
-- HANDLE is an opaque name for one connection, made by the room: connection
-- ids are never broadcast, so no one learns another participant's id.
-- GET /parties/main/ROOM answers {"room":ROOM}.
--
-- Every chat line goes through room:broadcast, so it reaches the room's
-- clients on every node in one order.

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

-- A connection's events all run on the shard it is connected to, so its
-- handle and name live in conn.state.
function Room.onConnect(room, conn, req)
  conn.state.handle = newHandle()
  conn:send(json.encode({ type = "welcome", handle = conn.state.handle, room = room.id }))
  room:broadcast(json.encode({ type = "join", handle = conn.state.handle }), { exclude = { conn.id } })
end

function Room.onMessage(room, conn, message)
  local msg, why = parse(conn, message)
  if not msg then
    reject(conn, why)
    return
  end
  conn.state.name = msg.name or conn.state.name
  room:broadcast(json.encode({
    type = "chat",
    from = msg.name or conn.state.handle,
    handle = conn.state.handle,
    text = msg.text,
    at = now(),
  }))
end

function Room.onClose(room, conn, code, reason)
  room:broadcast(json.encode({ type = "leave", handle = conn.state.handle, name = conn.state.name }))
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
