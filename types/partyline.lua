---@meta partyline
-- Annotations of what a partyline room script may use, for lua-language-server: add this
-- folder to your editor's Lua workspace ("Lua.workspace.library": ["<partyline>/types"]) and it
-- completes and checks room scripts. Nothing here runs; docs/lua-api.md says the same in prose.

---@class Write
---@field seq integer the write's sequence in the room's log
---@field data string
---@field binary boolean

---@class Request
---@field method string
---@field path string
---@field url string
---@field rest string the path after /parties/<party>/<room>
---@field query table<string, string>
---@field headers table<string, string> lower-case names
---@field body string
---@field auth table? the verified token's claims (read-only), nil without auth

---@class Response
---@field status integer?
---@field headers table<string, string>?
---@field body string|table? a table is sent as JSON

---@class PresenceEntry
---@field id string the connection's id
---@field node string the node that holds it
---@field info any its conn.presence, decoded; nil when none

---@class PresenceChange
---@field joined PresenceEntry[] connections that joined, or whose info changed (the new entry)
---@field left PresenceEntry[] connections that left, or whose info changed (the old entry)

---@class Connection
---@field id string
---@field state table kept for the connection's life
---@field tags string[]
---@field presence any what room:presence() shows of it on every node: JSON-able, at most 1 KiB encoded; read when the handler returns
---@field binary boolean whether the frame being handled was binary
---@field auth table? the verified token's claims (read-only), nil without auth
local Connection = {}

--- Sends to this connection only, not through the log.
---@param data string|table
---@param opts { binary: boolean? }?
function Connection:send(data, opts) end

--- Closes the connection.
---@param code integer? 1000 or 3000-4999
---@param reason string?
function Connection:close(code, reason) end

---@class Storage
local Storage = {}

---@param key string
---@return any value
---@return integer? revision
function Storage:get(key) end

---@param key string
---@param value any
---@param opts { expect: integer? }?
---@return integer? revision
---@return string? reason "conflict"
function Storage:put(key, value, opts) end

---@param key string
---@param opts { expect: integer? }?
---@return boolean? deleted
---@return string? reason
function Storage:delete(key, opts) end

---@param prefix string?
---@return table<string, any>
function Storage:list(prefix) end

---@class FetchResponse
---@field status integer
---@field headers table<string, string> lower-case names
---@field body string

---@class FetchOptions
---@field method string?
---@field headers table<string, string>?
---@field body string?
---@field timeout_ms integer?

--- Another room of this node's parties (room.parties.<name>:get(id)).
---@class RoomStub
local RoomStub = {}

--- Runs that room's onRequest in its own shard on this node.
---@param path string starts with /
---@param opts { method: string?, headers: table<string, string>?, query: table<string, string>?, body: string?, timeout_ms: integer? }?
---@return FetchResponse? response
---@return string? reason "unknown party 'x'", "timeout", "stopped", "cycle"
function RoomStub:fetch(path, opts) end

--- A write into that room's log (every shard room of a router party).
---@param data string|table
---@param opts { binary: boolean? }?
---@return integer|integer[]? seq
---@return string? reason
function RoomStub:broadcast(data, opts) end

---@class PartyStub
local PartyStub = {}

---@param id string
---@return RoomStub
function PartyStub:get(id) end

---@class Room
---@field id string
---@field party string
---@field node string
---@field env table<string, string> the party's env values, read-only
---@field storage Storage only for parties with storage: true
---@field parties table<string, PartyStub> every party of the node, by name
local Room = {}

--- Writes to the room's log; waits until the log stored it.
---@param data string|table
---@param opts { exclude: string[]?, binary: boolean? }?
---@return integer? seq
---@return string? reason
function Room:broadcast(data, opts) end

--- Writes only if the room's last sequence is still `opts.expect`.
---@param data string|table
---@param opts { expect: integer, binary: boolean? }
---@return integer? seq
---@return string? reason "conflict"
function Room:append(data, opts) end

---@return integer connections of the room on every node
function Room:count() end

--- Every connection of the room on every node, by node then id, as last announced.
--- In a party with `presence: count` it raises an error naming that setting: use room:count().
---@return PresenceEntry[]
function Room:presence() end

---@param id string
---@return Connection?
function Room:connection(id) end

---@param tag string?
---@return Connection[]
function Room:connections(tag) end

---@param opts { since: integer?, limit: integer? }?
---@return Write[]? page
---@return boolean|string truncated, or the reason the log cannot be read
---@return boolean? more true when the log holds more after this page
function Room:history(opts) end

---@param ms integer
---@return integer due milliseconds since the Unix epoch
function Room:setAlarm(ms) end

---@return boolean
function Room:cancelAlarm() end

---@return integer? due
function Room:getAlarm() end

--- The handlers a script returns; each is optional.
---@class Handlers
---@field onStart fun(room: Room)?
---@field onBeforeConnect fun(room: Room, req: Request): (boolean|Response|nil)?
---@field onConnect fun(room: Room, conn: Connection, req: Request)?
---@field onMessage fun(room: Room, conn: Connection, message: string)?
---@field onClose fun(room: Room, conn: Connection, code: integer, reason: string)?
---@field onRequest fun(room: Room, req: Request): (Response|string|nil)?
---@field onWrite fun(room: Room, write: Write)?
---@field onAlarm fun(room: Room)?
---@field onPresence fun(room: Room, change: PresenceChange)? connections joined, left or changed conn.presence, on any node

--- An HTTP call to an allowed host (the fetch configuration); the handler waits.
---@param url string
---@param opts FetchOptions?
---@return FetchResponse? response
---@return string? reason "timeout", "not allowed: host H", "bad url", "too large", "busy", ...
function fetch(url, opts) end

json = {}

--- Encodes a value as JSON (an empty table as {}, json.array(t) as []).
---@param value any
---@return string
function json.encode(value) end

---@param text string
---@return any
function json.decode(text) end

--- Marks `t` (or a new table) as an array, so it encodes as [] when empty.
---@param t table?
---@return table
function json.array(t) end

---@type lightuserdata JSON null
json.null = nil

---@type lightuserdata encodes as []
json.empty_array = nil

log = {}

---@param ... any
function log.info(...) end

---@param ... any
function log.warn(...) end

---@param ... any
function log.error(...) end

--- The node's wall clock in milliseconds since the Unix epoch.
---@return integer
function now() end

crypto = {}

---@param data string
---@return string hex
function crypto.sha256(data) end

---@param data string
---@return string bytes
function crypto.sha256_raw(data) end

---@param key string
---@param data string
---@return string hex
function crypto.hmac_sha256(key, data) end

---@param key string
---@param data string
---@return string bytes
function crypto.hmac_sha256_raw(key, data) end

---@param n integer 1 to 1024
---@return string bytes
function crypto.random(n) end

--- Constant-time comparison.
---@param a string
---@param b string
---@return boolean
function crypto.equal(a, b) end

base64 = {}

---@param s string
---@return string
function base64.encode(s) end

---@param s string
---@return string? decoded
---@return string? reason
function base64.decode(s) end

---@param s string
---@return string
function base64.urlencode(s) end

---@param s string
---@return string? decoded
---@return string? reason
function base64.urldecode(s) end

jwt = {}

---@param token string
---@param opts { secret: string?, public_key: string?, algorithms: string[], audience: string?, issuer: string?, leeway_seconds: integer? }
---@return table? claims
---@return string? reason
function jwt.verify(token, opts) end

---@param claims table
---@param opts { secret: string?, private_key: string?, alg: string? }
---@return string token
function jwt.sign(claims, opts) end
