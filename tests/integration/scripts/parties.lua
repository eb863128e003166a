-- Rooms calling rooms (room.parties). A lobby room answers its onRequest with its connection
-- count on every node; a game room's onRequest, by ?op=:
--   announce  broadcasts {"type":"game-started","id":...} into lobby "main" and fetches its /players
--   router    broadcasts into room "hall" of the router party "big" (every shard room of it)
--   self      calls its own onRequest, which answers "cycle"
local Room = {}

function Room.onConnect(room, conn)
  conn:send("joined")
end

local function reply(out)
  return { status = 200, headers = { ["content-type"] = "application/json" }, body = json.encode(out) }
end

function Room.onRequest(room, req)
  local q = req.query
  if room.party == "lobby" then
    return reply({ count = room:count(), from = q.from or json.null, path = req.rest })
  end
  local out = {}
  if q.op == "announce" then
    local lobby = room.parties.lobby:get("main")
    out.seq, out.err = lobby:broadcast(json.encode({ type = "game-started", id = room.id }))
    local res, err = lobby:fetch("/players", { query = { from = room.id } })
    out.status = res and res.status
    out.players = res and json.decode(res.body) or err
  elseif q.op == "router" then
    out.seqs, out.err = room.parties.big:get("hall"):broadcast("to every hall")
  elseif q.op == "self" then
    local res, err = room.parties[room.party]:get(room.id):fetch("/")
    out.err = err
  end
  return reply(out)
end

return Room
