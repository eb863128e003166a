-- Cursors room: everyone sees everyone's pointer, in small binary frames.
--
-- Protocol (binary frames; all numbers big-endian):
--   client -> server   4 bytes: x, y as uint16, fractions of the page scaled to 0..65534;
--                      x = y = 65535 means the pointer left the page
--   server -> clients  one or more records, each
--                        kind u8, id length u8, id bytes, then for kind 1 (move) x u16, y u16
--                      kind 1 = move, kind 2 = gone (the connection closed)
--   server -> joiner   one frame of move records: every cursor this shard knows
--   server -> sender   text {"type":"error","error":WHY} for a frame that is not 4 binary bytes
--
-- Each move goes through room:broadcast (excluding its sender), so it reaches
-- the room's clients on every node. Every shard follows every write in
-- onWrite, so it knows the cursors of all nodes and can greet a newcomer with
-- a snapshot.

local MOVE, GONE = 1, 2
local HIDDEN = 65535
local MAX_ID = 64 -- bytes: page ids are short; the record's length byte allows 255

local Room = {}

-- Every cursor of the room that this shard has seen written to the log:
-- id -> move record (the bytes to resend). Hidden cursors are kept too.
local cursors = {}

local function moveRecord(id, x, y)
  return string.pack(">BBc" .. #id .. "I2I2", MOVE, #id, id, x, y)
end

local function goneRecord(id)
  return string.pack(">BBc" .. #id, GONE, #id, id)
end

-- Applies the records of a write to `cursors`. Records from other writers
-- (a text POST into the room, say) that do not parse are ignored.
local function follow(data)
  local at = 1
  while at <= #data do
    local ok, kind, len = pcall(string.unpack, ">BB", data, at)
    if not ok then
      return
    end
    local idAt = at + 2
    local id = data:sub(idAt, idAt + len - 1)
    if #id ~= len then
      return
    end
    if kind == MOVE then
      if idAt + len + 3 > #data then
        return
      end
      cursors[id] = data:sub(at, idAt + len + 3)
      at = idAt + len + 4
    elseif kind == GONE then
      cursors[id] = nil
      at = idAt + len
    else
      return
    end
  end
end

local function reject(conn, why)
  conn:send(json.encode({ type = "error", error = why }))
end

function Room.onConnect(room, conn, req)
  if #conn.id > MAX_ID then
    conn:close(4000, "connection id longer than " .. MAX_ID .. " bytes")
    return
  end
  local snapshot = {}
  for id, record in pairs(cursors) do
    if id ~= conn.id then
      snapshot[#snapshot + 1] = record
    end
  end
  if #snapshot > 0 then
    conn:send(table.concat(snapshot), { binary = true })
  end
end

function Room.onMessage(room, conn, message)
  if not conn.binary then
    return reject(conn, "positions are binary frames of 4 bytes")
  end
  if #message ~= 4 then
    return reject(conn, "a position is 4 bytes (x, y as uint16), got " .. #message)
  end
  local x, y = string.unpack(">I2I2", message)
  if (x == HIDDEN) ~= (y == HIDDEN) then
    return reject(conn, "x and y are both 65535 (hidden) or neither")
  end
  room:broadcast(moveRecord(conn.id, x, y), { binary = true, exclude = { conn.id } })
end

function Room.onClose(room, conn, code, reason)
  -- (A socket replaced by a reconnect with the same id gets no onClose.)
  if #conn.id <= MAX_ID then
    room:broadcast(goneRecord(conn.id), { binary = true })
  end
end

function Room.onWrite(room, write)
  if write.binary then
    follow(write.data)
  end
end

return Room
