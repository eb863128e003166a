#include "rooms/ScriptCheck.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include <algorithm>
#include <cctype>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <stdexcept>

#include "lua/ChunkScan.h"
#include "lua/State.h"
#include "rooms/FetchApi.h"
#include "rooms/RoomApi.h"
#include "rooms/ShardView.h"

namespace partyline {

const std::vector<std::string> kHandlerNames = {"onStart",   "onBeforeConnect", "onConnect",
                                                "onMessage", "onClose",         "onRequest",
                                                "onWrite",   "onAlarm",         "onPresence"};

namespace {

// Where a function value was defined, as "path:line", or the path alone.
std::string whereDefined(lua_State* L, int index, const std::string& path) {
    if (!lua_isfunction(L, index)) return path;
    lua_pushvalue(L, index);
    lua_Debug ar;
    lua_getinfo(L, ">S", &ar);
    return ar.linedefined > 0 ? path + ":" + std::to_string(ar.linedefined) : path;
}

size_t editDistance(const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        size_t diagonal = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t above = row[j];
            bool same = ::tolower(a[i - 1]) == ::tolower(b[j - 1]);
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (same ? 0 : 1)});
            diagonal = above;
        }
    }
    return row[b.size()];
}

// Where `name` is given a value in `source`, as "path:line", or the path alone:
// the first line holding `name =` (or `["name"] =`) outside a comment. Values
// other than functions carry no line of their own.
std::string whereAssigned(const std::string& source, const std::string& name, const std::string& path) {
    auto isNamePart = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
    std::istringstream lines(source);
    std::string line;
    for (int number = 1; std::getline(lines, line); ++number) {
        std::string code = line.substr(0, line.find("--"));
        for (size_t at = code.find(name); at != std::string::npos; at = code.find(name, at + 1)) {
            size_t end = at + name.size();
            bool quoted = at > 0 && (code[at - 1] == '"' || code[at - 1] == '\'') && end < code.size() &&
                          code[end] == code[at - 1];
            bool partOfName =
                (at > 0 && isNamePart(code[at - 1])) || (end < code.size() && isNamePart(code[end]));
            if (quoted)
                end = std::min(code.find(']', end), code.size() - 1) + 1;
            else if (partOfName)
                continue;
            size_t next = code.find_first_not_of(" \t", end);
            if (next != std::string::npos && code[next] == '=' && code.compare(next, 2, "==") != 0)
                return path + ":" + std::to_string(number);
        }
    }
    return path;
}

// A shard that is never asked anything: RoomApi builds the room and conn tables from it, so the
// check knows their methods as a shard's handlers see them.
class NoShard final : public ShardView {
   public:
    const std::string& roomId() const override { return empty_; }
    const std::string& partyName() const override { return empty_; }
    const std::string& nodeId() const override { return empty_; }
    const std::string& keyPrefix() const override { return empty_; }
    const Limits& limits() const override { return limits_; }
    const std::map<std::string, std::string>& env() const override { return env_; }
    KeyValue* storage() const override { return nullptr; }
    KeyValue* alarms() const override { return nullptr; }
    net::Fetcher* fetcher() const override { return nullptr; }
    const std::shared_ptr<const net::FetchPolicy>& fetchAllow() const override { return noPolicy_; }
    RoomLinks* links() const override { return nullptr; }
    size_t totalCount() const override { return 0; }
    Client* client(const std::string&) const override { return nullptr; }
    std::vector<PresenceEntry> presence() const override { return {}; }
    bool presenceCountsOnly() const override { return false; }
    void setPresence(const std::string&, std::string) override {}
    void publish(std::string, PublishOptions) override { unused(); }
    void readHistory(uint64_t, size_t) override { unused(); }
    HandlerQueue& handlers() override { unused(); }

   private:
    [[noreturn]] static void unused() { throw std::logic_error("the script check runs no handler"); }
    std::string empty_;
    Limits limits_;
    std::map<std::string, std::string> env_;
    std::shared_ptr<const net::FetchPolicy> noPolicy_;
};

// The keys of the table on top of L whose values are functions; pops the table.
std::set<std::string> functionKeys(lua_State* L) {
    std::set<std::string> names;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) names.insert(lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return names;
}

// The nearest name within two edits (case aside) of `name`, for "did you mean"; "" when none.
std::string closest(const std::string& name, const std::set<std::string>& known) {
    std::string best;
    size_t bestDistance = 3;
    for (const auto& candidate : known) {
        size_t distance = editDistance(name, candidate);
        if (distance < bestDistance) best = candidate, bestDistance = distance;
    }
    return best;
}

// Globals the script reads but neither the sandbox nor the script defines, and methods called on
// `room` or `conn` (parameters, locals or upvalues of those names) that those tables lack.
void checkNames(lua_State* L, const std::string& source, const std::string& path,
                std::vector<std::string>& problems) {
    auto uses = lua::scanChunk(L, source, path);
    if (!uses) return;  // loadRoomScript already reported what does not compile
    std::set<std::string> globals;
    lua_pushglobaltable(L);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) == LUA_TSTRING) globals.insert(lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    for (const auto& use : *uses)
        if (use.kind == lua::ChunkUse::Kind::GlobalWrite) globals.insert(use.name);
    const std::set<std::string> roomMethods = roomMethodNames();
    const std::set<std::string> connMethods = connMethodNames();
    std::set<std::string> seen;
    for (const auto& use : *uses) {
        std::string where = path + ":" + std::to_string(use.line);
        std::string problem;
        if (use.kind == lua::ChunkUse::Kind::GlobalRead && !globals.count(use.name)) {
            std::string hint = closest(use.name, globals);
            problem = where + ": undefined global '" + use.name + "'" +
                      (hint.empty() ? "" : "; did you mean '" + hint + "'?");
        } else if (use.kind == lua::ChunkUse::Kind::MethodCall &&
                   (use.receiver == "room" || use.receiver == "conn")) {
            const auto& methods = use.receiver == "room" ? roomMethods : connMethods;
            if (methods.count(use.name)) continue;
            std::string hint = closest(use.name, methods);
            problem = where + ": unknown method " + use.receiver + ":" + use.name + "()" +
                      (hint.empty() ? "" : "; did you mean " + use.receiver + ":" + hint + "()?");
        }
        if (!problem.empty() && seen.insert(problem).second) problems.push_back(problem);
    }
}

// The methods of the table RoomApi pushes through `push`.
template <class Push>
std::set<std::string> methodsOf(Push push) {
    lua_State* L = luaL_newstate();
    if (!L) return {};
    NoShard shard;
    push(L, shard);
    std::set<std::string> names = functionKeys(L);
    lua_close(L);
    return names;
}

}  // namespace

std::set<std::string> roomMethodNames() {
    return methodsOf([](lua_State* L, ShardView& view) { RoomApi::pushRoom(L, view); });
}

std::set<std::string> connMethodNames() {
    return methodsOf([](lua_State* L, ShardView& view) { RoomApi::pushConn(L, view, "check"); });
}

Result<std::unique_ptr<lua::State>> loadRoomScript(const std::string& source, const std::string& path,
                                                   const Limits& limits) {
    auto state = lua::State::create({limits.lua_memory_bytes, limits.lua_instructions_per_call,
                                     std::chrono::milliseconds(limits.lua_cpu_ms_per_call)});
    if (!state) return state.status().withContext(path);
    std::unique_ptr<lua::State> lua = std::move(state.value());
    lua->setLogSink({});
    FetchApi::install(lua->L(), nullptr);  // the shard's globals, without a shard to call from
    if (Status loaded = lua->loadScript(source, path); !loaded) return loaded;
    lua_State* L = lua->L();
    if (!lua_istable(L, -1))
        return Status(
            Code::InvalidArgument,
            path + ": the script must return a table of handlers, it returned a " + luaL_typename(L, -1));
    return lua;
}

std::vector<std::string> checkRoomScript(const std::string& path, const Limits& limits) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return {path + ": cannot read the file"};
    std::ostringstream text;
    text << in.rdbuf();
    auto loaded = loadRoomScript(text.str(), path, limits);
    if (!loaded) return {loaded.status().message()};
    lua_State* L = loaded.value()->L();
    std::vector<std::string> problems;
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            problems.push_back(path + ": the handler table has a key that is not a name");
        } else {
            std::string name = lua_tostring(L, -2);
            bool known = std::find(kHandlerNames.begin(), kHandlerNames.end(), name) != kHandlerNames.end();
            if (!known) {
                std::string hint = closest(name, {kHandlerNames.begin(), kHandlerNames.end()});
                problems.push_back(whereDefined(L, -1, path) + ": unknown handler '" + name + "'" +
                                   (hint.empty() ? "" : "; did you mean '" + hint + "'?"));
            } else if (!lua_isfunction(L, -1)) {
                problems.push_back(whereAssigned(text.str(), name, path) + ": handler '" + name +
                                   "' must be a function, it is a " + luaL_typename(L, -1));
            }
        }
        lua_pop(L, 1);
    }
    checkNames(L, text.str(), path, problems);
    std::sort(problems.begin(), problems.end());
    return problems;
}

std::string starterScript(const std::string& name) {
    return R"(-- )" + name + R"(: a partyline room. Every handler is optional.
-- Writes go through the room's log: room:broadcast() returns the write's
-- sequence once it is stored, and every connection on every node gets it.
local Room = {}

-- A shard of the room starts on this node.
function Room.onStart(room)
  log.info("room", room.id, "started on", room.node)
end

-- Return false, or {status = 401, body = "..."}, to refuse a connection.
function Room.onBeforeConnect(room, req)
end

function Room.onConnect(room, conn, req)
  conn:send(json.encode({type = "welcome", id = conn.id, room = room.id}))
end

-- message is a string; conn.binary tells whether the frame was binary.
function Room.onMessage(room, conn, message)
  room:broadcast(message, {binary = conn.binary})
end

function Room.onClose(room, conn, code, reason)
end

-- Any HTTP method on /parties/<party>/<room>[/rest].
function Room.onRequest(room, req)
  return {status = 200, body = {room = room.id, connections = room:count()}}
end

return Room
)";
}

}  // namespace partyline
