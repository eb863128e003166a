-- Auth room: a party with built-in connection auth (parties.X.auth.jwt).
-- onBeforeConnect logs that it ran, so a test can see it never runs for a
-- refused token. onConnect greets with the claims the node verified:
-- {"type":"hello","sub":..,"req_sub":..,"claims":{...}}; "write" tries to
-- change conn.auth and answers what happened; onRequest answers req.auth.
local Room = {}

function Room.onBeforeConnect(room, req)
  log.info("onBeforeConnect ran for " .. tostring(req.query.marker))
end

function Room.onConnect(room, conn, req)
  conn:send(json.encode({
    type = "hello",
    sub = conn.auth and conn.auth.sub or json.null,
    req_sub = req.auth and req.auth.sub or json.null,
    claims = conn.auth and conn.auth or json.null,
  }))
end

function Room.onMessage(room, conn, message)
  if message == "write" then
    local ok, err = pcall(function() conn.auth.sub = "someone else" end)
    conn:send(json.encode({ type = "write", ok = ok, err = tostring(err), sub = conn.auth.sub }))
  end
end

function Room.onRequest(room, req)
  return { status = 200, body = json.encode({ sub = req.auth and req.auth.sub or json.null }) }
end

return Room
