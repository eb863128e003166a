-- Sharded broadcast: one shard room of a router party.
--
-- The configuration (partyline.yaml) makes party `feed` a router over four
-- rooms of party `feed-shard`, which run this script. A client that joins
-- /parties/feed/ROOM lands in one of ROOM-1..ROOM-4; a POST to
-- /parties/feed/ROOM reaches the onRequest of all four, and each writes the
-- post to its own log, so every client of every shard, on every node, gets it
-- once.
--
-- Protocol (JSON text frames, server -> client):
--   on join      {"type":"welcome","id":ID,"shard":SHARD ROOM,"node":NODE}
--   each post    {"type":"post","text":TEXT,"from":NAME,"shard":SHARD ROOM,"at":MS}
--   a frame      {"type":"error","error":WHY}  (clients post over HTTP, not frames)
-- HTTP, to the router room /parties/feed/ROOM (every shard answers; the router
-- gathers the answers into {"rooms":[{"room","status","body"},...]}):
--   POST {"text":TEXT,"from":NAME}  (or a plain-text body) -> {"seq":SEQ}
--   GET                             -> {"shard":SHARD ROOM,"node":NODE,"connections":N}

local MAX_TEXT = 1000 -- characters
local MAX_FROM = 64 -- characters

local Room = {}

local function answer(status, value)
  return { status = status, headers = { ["content-type"] = "application/json" }, body = json.encode(value) }
end

-- The post in a request body, or nil and why it is not one.
local function parsePost(body)
  local post = { text = body }
  if body:sub(1, 1) == "{" then
    local ok, value = pcall(json.decode, body)
    if not ok or type(value) ~= "table" then
      return nil, "a JSON body must be an object {\"text\":...}"
    end
    post = value
  end
  local n = type(post.text) == "string" and utf8.len(post.text)
  if not n or n == 0 or n > MAX_TEXT then
    return nil, "text must be 1 to " .. MAX_TEXT .. " characters of UTF-8"
  end
  if post.from ~= nil then
    local m = type(post.from) == "string" and utf8.len(post.from)
    if not m or m > MAX_FROM then
      return nil, "from must be a string of at most " .. MAX_FROM .. " characters"
    end
  end
  return post
end

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "welcome", id = conn.id, shard = room.id, node = room.node }))
end

function Room.onMessage(room, conn, message)
  conn:send(json.encode({
    type = "error",
    error = "frames reach one shard only: POST to /parties/feed/<room> to reach every shard",
  }))
end

function Room.onRequest(room, req)
  if req.method == "GET" then
    return answer(200, { shard = room.id, node = room.node, connections = room:count() })
  end
  if req.method ~= "POST" then
    return { status = 405, headers = { allow = "GET, POST" }, body = "use GET or POST\n" }
  end
  local post, why = parsePost(req.body)
  if not post then
    return answer(400, { error = why })
  end
  local seq, err = room:broadcast(json.encode({
    type = "post",
    text = post.text,
    from = post.from ~= "" and post.from or nil,
    shard = room.id,
    at = now(),
  }))
  if not seq then
    return answer(503, { error = tostring(err) })
  end
  return answer(200, { seq = seq })
end

return Room
