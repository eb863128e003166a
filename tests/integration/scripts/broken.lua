-- This script does not compile, on purpose: line 6 lacks a comma.
-- A party that uses it must answer 500 with a body naming this file and
-- line 6, and the node's other parties must keep working.
local Room = {}

function Room.onRequest(room, req) return { status = 200 body = "unreachable" } end

return Room
