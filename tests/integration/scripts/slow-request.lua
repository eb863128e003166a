-- Slow-request room: POST .../work logs "work started", keeps its handler busy
-- for about 2 s (a request in flight when the node is told to stop), then
-- broadcasts the body and answers {"seq":N}. WebSocket clients are greeted with
-- {"type":"joined"}.
local Room = {}

function Room.onConnect(room, conn, req)
  conn:send(json.encode({ type = "joined", id = conn.id }))
end

function Room.onRequest(room, req)
  log.info("work started")
  local started = now()
  while now() - started < 2000 do end
  local seq, err = room:broadcast(req.body)
  if not seq then return { status = 503, body = tostring(err) } end
  return { status = 200, headers = { ["content-type"] = "application/json" }, body = json.encode({ seq = seq }) }
end

return Room
