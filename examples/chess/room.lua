-- Chess: moves validated in Lua against the game's state, appended to the
-- room's log with room:append(write, {expect = lastSeq}), so that two shards
-- of a room on two nodes can never both accept a move for the same position.
--
-- The game is a state machine over the room's log: every shard replays the
-- log (room:history in onStart, then onWrite) through the same rules, so all
-- shards agree, and a shard that starts on any node, after a restart say,
-- rebuilds the game from the log. A write the rules refuse (one posted
-- through the built-in broadcast, say) is skipped by every shard alike.
--
-- Rules checked: each piece's movement, captures, turn order, moving into or
-- staying in check, castling (rights, empty squares, no castling out of,
-- through or into check), en passant, promotion (to q, r, b or n; q when none
-- is given), checkmate and stalemate. Not checked: draws by the fifty-move
-- rule, threefold repetition or insufficient material.
--
-- Protocol: see README.md. Client -> server (JSON text frames):
--   {"type":"move","from":"e2","to":"e4","promotion":"q"}
--   {"type":"sit","color":"w"}                      take white (or "b")
--   {"type":"reset","fen":FEN}                      a new game (fen optional)
-- Server -> the new connection: {"type":"state",...}; to everyone: each
-- accepted write from the log; to a sender: {"type":"error","error":WHY}.

local START_FEN = "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - 0 1"
local FILES = "abcdefgh"
local COLOR_NAME = { w = "white", b = "black" }
local PIECE_NAME = { p = "pawn", n = "knight", b = "bishop", r = "rook", q = "queen", k = "king" }
local PROMOTIONS = { "q", "r", "b", "n" }
local PROMOTES_TO = { q = true, r = true, b = true, n = true }
local MAX_FEN = 100 -- bytes

-- ---- the board ---------------------------------------------------------------
-- Squares are 0..63: rank * 8 + file, a1 = 0, h1 = 7, a8 = 56. Pieces are
-- FEN letters, upper case for white.

local function sq(f, r)
  return r * 8 + f
end
local function fileOf(s)
  return s % 8
end
local function rankOf(s)
  return s // 8
end
local function onBoard(f, r)
  return f >= 0 and f < 8 and r >= 0 and r < 8
end
local function squareName(s)
  local f = fileOf(s) + 1
  return FILES:sub(f, f) .. (rankOf(s) + 1)
end
local function parseSquare(text)
  if type(text) ~= "string" or #text ~= 2 then
    return nil
  end
  local f = FILES:find(text:sub(1, 1), 1, true)
  local r = tonumber(text:sub(2, 2))
  if not f or not r or r < 1 or r > 8 then
    return nil
  end
  return sq(f - 1, r - 1)
end
local function colorOf(piece)
  if piece == nil then
    return nil
  end
  return piece == piece:upper() and "w" or "b"
end
local function other(color)
  return color == "w" and "b" or "w"
end
-- The piece letter of `color`.
local function of(color, letter)
  return color == "w" and letter:upper() or letter
end

local KNIGHT = { { 1, 2 }, { 2, 1 }, { 2, -1 }, { 1, -2 }, { -1, -2 }, { -2, -1 }, { -2, 1 }, { -1, 2 } }
local ROYAL = { { 1, 0 }, { 1, 1 }, { 0, 1 }, { -1, 1 }, { -1, 0 }, { -1, -1 }, { 0, -1 }, { 1, -1 } }
local ROOK = { { 1, 0 }, { -1, 0 }, { 0, 1 }, { 0, -1 } }
local BISHOP = { { 1, 1 }, { 1, -1 }, { -1, 1 }, { -1, -1 } }
local PAWN_SIDES = { -1, 1 }

-- Castling: the right's letter, the king's and the rook's squares before and
-- after, the squares that must be empty and those that must not be attacked.
local CASTLES = {
  { right = "K", color = "w", king = 4, to = 6, rook = 7, rookTo = 5, empty = { 5, 6 }, safe = { 4, 5, 6 } },
  { right = "Q", color = "w", king = 4, to = 2, rook = 0, rookTo = 3, empty = { 1, 2, 3 }, safe = { 4, 3, 2 } },
  { right = "k", color = "b", king = 60, to = 62, rook = 63, rookTo = 61, empty = { 61, 62 }, safe = { 60, 61, 62 } },
  { right = "q", color = "b", king = 60, to = 58, rook = 56, rookTo = 59, empty = { 57, 58, 59 }, safe = { 60, 59, 58 } },
}

-- Whether piece `a` or `b` (a slider) attacks (f, r) along one of `dirs`.
local function rayAttack(board, f, r, dirs, a, b)
  for _, d in ipairs(dirs) do
    local nf, nr = f + d[1], r + d[2]
    while onBoard(nf, nr) do
      local p = board[sq(nf, nr)]
      if p then
        if p == a or p == b then
          return true
        end
        break
      end
      nf, nr = nf + d[1], nr + d[2]
    end
  end
  return false
end

local function stepAttack(board, f, r, steps, piece)
  for _, d in ipairs(steps) do
    local nf, nr = f + d[1], r + d[2]
    if onBoard(nf, nr) and board[sq(nf, nr)] == piece then
      return true
    end
  end
  return false
end

-- Whether square `s` is attacked by a piece of color `by`.
local function attacked(board, s, by)
  local f, r = fileOf(s), rankOf(s)
  local pawnRank = by == "w" and r - 1 or r + 1 -- a pawn attacks from one rank behind
  for _, df in ipairs(PAWN_SIDES) do
    if onBoard(f + df, pawnRank) and board[sq(f + df, pawnRank)] == of(by, "p") then
      return true
    end
  end
  return stepAttack(board, f, r, KNIGHT, of(by, "n"))
    or stepAttack(board, f, r, ROYAL, of(by, "k"))
    or rayAttack(board, f, r, ROOK, of(by, "r"), of(by, "q"))
    or rayAttack(board, f, r, BISHOP, of(by, "b"), of(by, "q"))
end

local function kingSquare(board, color)
  local king = of(color, "k")
  for s = 0, 63 do
    if board[s] == king then
      return s
    end
  end
end

local function inCheck(board, color)
  return attacked(board, kingSquare(board, color), other(color))
end

-- ---- moves -------------------------------------------------------------------
-- A move: {from=, to=, promo=letter or nil, kind=nil, "double", "ep" or "castle", castle=}.

local function addPawnMove(list, from, to, kind)
  local r = rankOf(to)
  if r == 7 or r == 0 then
    for _, p in ipairs(PROMOTIONS) do
      list[#list + 1] = { from = from, to = to, promo = p }
    end
  else
    list[#list + 1] = { from = from, to = to, kind = kind }
  end
end

local function addCastles(game, from, color, list)
  for _, c in ipairs(CASTLES) do
    if c.color == color and from == c.king and game.castling[c.right] and game.board[c.rook] == of(color, "r") then
      local ok = true
      for _, s in ipairs(c.empty) do
        ok = ok and not game.board[s]
      end
      for _, s in ipairs(c.safe) do
        ok = ok and not attacked(game.board, s, other(color))
      end
      if ok then
        list[#list + 1] = { from = from, to = c.to, kind = "castle", castle = c }
      end
    end
  end
end

-- Appends the moves of the piece on `from` that follow its movement rules,
-- whether or not they leave its king in check.
local function pieceMoves(game, from, list)
  local board = game.board
  local piece = board[from]
  local color, kind = colorOf(piece), piece:lower()
  local f, r = fileOf(from), rankOf(from)
  if kind == "p" then
    local dir = color == "w" and 1 or -1
    local ahead = r + dir
    if onBoard(f, ahead) and not board[sq(f, ahead)] then
      addPawnMove(list, from, sq(f, ahead))
      if r == (color == "w" and 1 or 6) and not board[sq(f, ahead + dir)] then
        list[#list + 1] = { from = from, to = sq(f, ahead + dir), kind = "double" }
      end
    end
    for _, df in ipairs(PAWN_SIDES) do
      if onBoard(f + df, ahead) then
        local to = sq(f + df, ahead)
        local target = board[to]
        if target and colorOf(target) ~= color then
          addPawnMove(list, from, to)
        elseif not target and game.ep == to then
          list[#list + 1] = { from = from, to = to, kind = "ep" }
        end
      end
    end
  elseif kind == "n" or kind == "k" then
    for _, d in ipairs(kind == "n" and KNIGHT or ROYAL) do
      local nf, nr = f + d[1], r + d[2]
      if onBoard(nf, nr) and colorOf(board[sq(nf, nr)]) ~= color then
        list[#list + 1] = { from = from, to = sq(nf, nr) }
      end
    end
    if kind == "k" then
      addCastles(game, from, color, list)
    end
  else
    local dirs = kind == "r" and ROOK or kind == "b" and BISHOP or ROYAL
    for _, d in ipairs(dirs) do
      local nf, nr = f + d[1], r + d[2]
      while onBoard(nf, nr) do
        local target = board[sq(nf, nr)]
        if colorOf(target) ~= color then
          list[#list + 1] = { from = from, to = sq(nf, nr) }
        end
        if target then
          break
        end
        nf, nr = nf + d[1], nr + d[2]
      end
    end
  end
end

-- Moves the pieces of `m` on `board`: the capture en passant, the castling
-- rook and the promotion included.
local function play(board, m)
  local piece = board[m.from]
  board[m.to] = m.promo and of(colorOf(piece), m.promo) or piece
  board[m.from] = nil
  if m.kind == "ep" then
    board[sq(fileOf(m.to), rankOf(m.from))] = nil
  elseif m.kind == "castle" then
    board[m.castle.rookTo], board[m.castle.rook] = board[m.castle.rook], nil
  end
end

local function copyBoard(board)
  local copy = {}
  for s = 0, 63 do
    copy[s] = board[s]
  end
  return copy
end

local function copyGame(g)
  local copy = { board = copyBoard(g.board), turn = g.turn, castling = {}, ep = g.ep, halfmove = g.halfmove,
                 fullmove = g.fullmove, moves = json.array() }
  for right, on in pairs(g.castling) do
    copy.castling[right] = on
  end
  for i, m in ipairs(g.moves) do
    copy.moves[i] = m
  end
  return copy
end

local function keepsKingSafe(game, m)
  local board = copyBoard(game.board)
  local color = colorOf(board[m.from])
  play(board, m)
  return not inCheck(board, color)
end

local function uci(m)
  return squareName(m.from) .. squareName(m.to) .. (m.promo or "")
end

local function legalMoves(game)
  local pseudo = {}
  for s = 0, 63 do
    if colorOf(game.board[s]) == game.turn then
      pieceMoves(game, s, pseudo)
    end
  end
  local legal = {}
  for _, m in ipairs(pseudo) do
    if keepsKingSafe(game, m) then
      legal[#legal + 1] = m
    end
  end
  return legal
end

-- The legal move from `from` to `to` (promoting to `promo`, q by default), or
-- nil and why there is none.
local function findMove(game, from, to, promo)
  local piece = game.board[from]
  if not piece then
    return nil, "there is no piece on " .. squareName(from)
  end
  if colorOf(piece) ~= game.turn then
    return nil, "it is " .. COLOR_NAME[game.turn] .. "'s turn"
  end
  local candidates = {}
  pieceMoves(game, from, candidates)
  for _, m in ipairs(candidates) do
    if m.to == to and (m.promo == nil or m.promo == (promo or "q")) then
      if promo and not m.promo then
        return nil, "only a pawn that reaches the last rank is promoted"
      end
      if not keepsKingSafe(game, m) then
        return nil, "that move leaves the " .. COLOR_NAME[game.turn] .. " king in check"
      end
      return m
    end
  end
  return nil, "a " .. PIECE_NAME[piece:lower()] .. " cannot move from " .. squareName(from) .. " to " .. squareName(to)
end

-- Plays a legal move: the board, castling rights, en passant, the clocks and the turn.
local function commit(game, m)
  local piece, captured = game.board[m.from], game.board[m.to]
  play(game.board, m)
  for _, c in ipairs(CASTLES) do
    if m.from == c.king or m.from == c.rook or m.to == c.rook then
      game.castling[c.right] = nil
    end
  end
  game.ep = m.kind == "double" and (m.from + m.to) // 2 or nil
  game.halfmove = (piece:lower() == "p" or captured) and 0 or game.halfmove + 1
  if game.turn == "b" then
    game.fullmove = game.fullmove + 1
  end
  game.turn = other(game.turn)
  game.moves[#game.moves + 1] = uci(m)
end

-- ---- FEN ---------------------------------------------------------------------

local function toFen(game)
  local rows = {}
  for r = 7, 0, -1 do
    local row, empty = "", 0
    for f = 0, 7 do
      local p = game.board[sq(f, r)]
      if p then
        row = row .. (empty > 0 and empty or "") .. p
        empty = 0
      else
        empty = empty + 1
      end
    end
    rows[#rows + 1] = row .. (empty > 0 and empty or "")
  end
  local castling = ""
  for _, c in ipairs(CASTLES) do
    castling = castling .. (game.castling[c.right] and c.right or "")
  end
  return table.concat(rows, "/")
    .. " " .. game.turn
    .. " " .. (castling ~= "" and castling or "-")
    .. " " .. (game.ep and squareName(game.ep) or "-")
    .. " " .. game.halfmove .. " " .. game.fullmove
end

-- A new game from a FEN position, or nil and why the text is not one.
local function fromFen(text)
  if type(text) ~= "string" or #text > MAX_FEN then
    return nil, "fen must be a string of at most " .. MAX_FEN .. " bytes"
  end
  local placement, turn, castling, ep, half, full = text:match("^(%S+) ([wb]) (%S+) (%S+) (%d+) (%d+)$")
  if not placement then
    placement, turn, castling, ep = text:match("^(%S+) ([wb]) (%S+) (%S+)$")
    half, full = "0", "1"
  end
  if not placement then
    return nil, "fen must read PIECES TURN CASTLING EN-PASSANT [HALFMOVE FULLMOVE]"
  end
  if #half > 4 or #full > 4 or tonumber(full) < 1 then
    return nil, "fen: the move clocks must be numbers below 10000, the full move 1 or more"
  end
  local game = { board = {}, turn = turn, castling = {}, halfmove = tonumber(half), fullmove = tonumber(full), moves = json.array() }
  local f, r = 0, 7
  for i = 1, #placement do
    local ch = placement:sub(i, i)
    if ch == "/" then
      if f ~= 8 or r == 0 then
        return nil, "fen: each of the 8 ranks must hold 8 squares"
      end
      f, r = 0, r - 1
    elseif ch >= "1" and ch <= "8" then
      f = f + tonumber(ch)
    elseif PIECE_NAME[ch:lower()] then
      if ch:lower() == "p" and (r == 0 or r == 7) then
        return nil, "fen: a pawn on the first or last rank"
      end
      if f < 8 then
        game.board[sq(f, r)] = ch
      end
      f = f + 1
    else
      return nil, "fen: unexpected '" .. ch .. "' in the pieces"
    end
    if f > 8 then
      return nil, "fen: a rank holds more than 8 squares"
    end
  end
  if f ~= 8 or r ~= 0 then
    return nil, "fen: each of the 8 ranks must hold 8 squares"
  end
  local kings = { K = 0, k = 0 }
  for s = 0, 63 do
    local p = game.board[s]
    if p == "K" or p == "k" then
      kings[p] = kings[p] + 1
    end
  end
  if kings.K ~= 1 or kings.k ~= 1 then
    return nil, "fen: each side needs exactly one king"
  end
  if castling ~= "-" then
    for i = 1, #castling do
      local right = castling:sub(i, i)
      if not ("KQkq"):find(right, 1, true) or game.castling[right] then
        return nil, "fen: castling must be - or letters of KQkq"
      end
      game.castling[right] = true
    end
  end
  for _, c in ipairs(CASTLES) do -- a right whose king or rook moved away is gone
    if game.board[c.king] ~= of(c.color, "k") or game.board[c.rook] ~= of(c.color, "r") then
      game.castling[c.right] = nil
    end
  end
  if ep ~= "-" then
    game.ep = parseSquare(ep)
    if not game.ep or rankOf(game.ep) ~= (turn == "w" and 5 or 2) then
      return nil, "fen: en passant must be - or a square on the 6th (white to move) or 3rd rank"
    end
  end
  if inCheck(game.board, other(turn)) then
    return nil, "fen: the side not to move is in check"
  end
  return game
end

-- ---- the game as a state machine over the log -----------------------------------

local game = assert(fromFen(START_FEN))
local seats = {} -- color -> the connection id playing it
local lastSeq = 0 -- the room's last log sequence this shard has followed
local caughtUp = false -- the log was read to its end at least once
local status -- {legal=, state=, winner=} of the current position, computed when needed

local function evaluate()
  if status then
    return status
  end
  local legal = json.array()
  for _, m in ipairs(legalMoves(game)) do
    legal[#legal + 1] = uci(m)
  end
  status = { legal = legal, state = "playing" }
  local check = inCheck(game.board, game.turn)
  if #legal == 0 then
    status.state = check and "checkmate" or "stalemate"
    status.winner = check and other(game.turn) or nil
  elseif check then
    status.state = "check"
  end
  return status
end

local function over()
  local s = evaluate().state
  return s == "checkmate" or s == "stalemate"
end

-- Whether `entry` (a write, or a frame about to become one) is a legal next
-- step of the game; if it is, returns the function that takes it, else nil
-- and why. `entry.by` is the connection id of its author.
local function judge(entry)
  if type(entry.by) ~= "string" then
    return nil, "a write needs its author"
  end
  if entry.type == "move" then
    local from, to = parseSquare(entry.from), parseSquare(entry.to)
    if not from or not to then
      return nil, "from and to must be squares such as e2"
    end
    if entry.promotion ~= nil and not PROMOTES_TO[entry.promotion] then
      return nil, 'promotion must be "q", "r", "b" or "n"'
    end
    local player = seats[game.turn]
    if player and player ~= entry.by then
      return nil, COLOR_NAME[game.turn] .. " is played by someone else"
    end
    local m, why = findMove(game, from, to, entry.promotion)
    if not m then
      return nil, why
    end
    return function()
      commit(game, m)
    end
  elseif entry.type == "sit" then
    if not COLOR_NAME[entry.color] then
      return nil, 'color must be "w" or "b"'
    end
    if seats[entry.color] then
      return nil, COLOR_NAME[entry.color] .. " is taken"
    end
    return function()
      seats[entry.color] = entry.by
    end
  elseif entry.type == "reset" then
    if (seats.w or seats.b) and entry.by ~= seats.w and entry.by ~= seats.b and not over() then
      return nil, "only a player may start a new game before this one ends"
    end
    local fresh, why = fromFen(entry.fen or START_FEN)
    if not fresh then
      return nil, why
    end
    return function()
      game, seats = fresh, {}
    end
  end
  return nil, 'type must be "move", "sit" or "reset"'
end

-- Follows one write of the log: the rules decide whether it counts.
local function follow(seq, data)
  lastSeq = seq
  local ok, entry = pcall(json.decode, data)
  if ok and type(entry) == "table" then
    local take = judge(entry)
    if take then
      take()
      status = nil
    end
  end
end

-- Reads the log from the last write followed to its end. False when the log
-- cannot be read now (the next handler tries again).
local function catchUp(room)
  while true do
    local page, err = room:history({ since = lastSeq, limit = 1000 })
    if not page then
      log.warn("cannot read the game's log: " .. tostring(err))
      return false
    end
    if #page == 0 then
      caughtUp = true
      return true
    end
    for _, e in ipairs(page) do
      follow(e.seq, e.data)
    end
  end
end

local function seatsView()
  return { w = seats.w or json.null, b = seats.b or json.null }
end

-- What a page needs to draw the position.
local function position(fields)
  local s = evaluate()
  fields.fen = toFen(game)
  fields.turn = game.turn
  fields.status = s.state
  fields.winner = s.winner
  fields.legal = s.legal
  fields.seats = seatsView()
  fields.ply = #game.moves
  return fields
end

local function reject(conn, why)
  conn:send(json.encode({ type = "error", error = why }))
end

local function sendState(room, conn)
  conn:send(json.encode(position({ type = "state", id = conn.id, seq = lastSeq, moves = game.moves })))
end

-- ---- handlers ----------------------------------------------------------------

local Room = {}

function Room.onStart(room)
  catchUp(room)
end

function Room.onConnect(room, conn, req)
  if not caughtUp and not catchUp(room) then
    conn:close(4013, "the game's log cannot be read now; try again")
    return
  end
  sendState(room, conn)
end

function Room.onWrite(room, write)
  if write.seq <= lastSeq then
    return -- this shard wrote it, or read it already
  end
  if not caughtUp then
    catchUp(room) -- reads this write too
    return
  end
  follow(write.seq, write.data)
end

function Room.onMessage(room, conn, message)
  if conn.binary then
    return reject(conn, "frames must be JSON text")
  end
  local ok, msg = pcall(json.decode, message)
  if not ok or type(msg) ~= "table" then
    return reject(conn, "a frame must be a JSON object")
  end
  if not caughtUp and not catchUp(room) then
    return reject(conn, "the game's log cannot be read now; try again")
  end
  -- Only the fields of its type go into the write; judge checks each of them.
  local entry = { type = msg.type, by = conn.id }
  if msg.type == "move" then
    entry.from, entry.to, entry.promotion = msg.from, msg.to, msg.promotion
  elseif msg.type == "sit" then
    entry.color = msg.color
  elseif msg.type == "reset" then
    entry.fen = msg.fen
  end
  local take, why = judge(entry)
  if not take then
    return reject(conn, why)
  end
  -- Taken on copies until the log stored it: the write carries the position after it.
  local saved = { game = game, seats = seats, status = status }
  game, seats, status = copyGame(game), { w = seats.w, b = seats.b }, nil
  take()
  local write = position(entry)
  local seq, err = room:append(json.encode(write), { expect = lastSeq })
  if seq then
    lastSeq = seq
    return
  end
  game, seats, status = saved.game, saved.seats, saved.status
  if err == "conflict" then
    -- Another shard's write came first: follow it, and let the player look again.
    catchUp(room)
    reject(conn, "the game changed before your " .. entry.type .. " was stored; look again")
    sendState(room, conn)
  else
    reject(conn, "not stored: " .. tostring(err))
  end
end

function Room.onRequest(room, req)
  if req.method ~= "GET" then
    return { status = 405, headers = { allow = "GET" }, body = "only GET\n" }
  end
  if not caughtUp and not catchUp(room) then
    return { status = 503, body = "the game's log cannot be read now\n" }
  end
  return {
    status = 200,
    headers = { ["content-type"] = "application/json" },
    body = json.encode(position({ seq = lastSeq, moves = game.moves, node = room.node })),
  }
end

return Room
