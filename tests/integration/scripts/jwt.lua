-- JWT room: each message is a JSON request, answered to its sender with the same id.
--   {"id":..,"verify":token,"opts":{...}} -> {"id":..,"claims":{...}} or {"id":..,"reason":"..."}
--   {"id":..,"sign":claims,"opts":{...}} -> {"id":..,"token":"..."}
--   {"id":..,"digest":data,"key":key}    -> {"id":..,"sha256":hex,"hmac":hex,"b64":..,"b64url":..}
-- A call that raises answers {"id":..,"error":message}.
local Room = {}

local function answer(request)
  if request.verify then
    local claims, reason = jwt.verify(request.verify, request.opts)
    return claims and { claims = claims } or { reason = reason }
  elseif request.sign then
    return { token = jwt.sign(request.sign, request.opts) }
  elseif request.digest then
    return {
      sha256 = crypto.sha256(request.digest),
      hmac = crypto.hmac_sha256(request.key, request.digest),
      b64 = base64.encode(request.digest),
      b64url = base64.urlencode(request.digest),
    }
  end
  return { error = "unknown request" }
end

function Room.onMessage(room, conn, message)
  local request = json.decode(message)
  local ok, reply = pcall(answer, request)
  if not ok then reply = { error = tostring(reply) } end
  reply.id = request.id
  conn:send(json.encode(reply))
end

return Room
