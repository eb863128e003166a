#include "rooms/StorageApi.h"

#include <optional>
#include <string>
#include <vector>

extern "C" {
#include <lauxlib.h>
}

#include "bus/Subject.h"
#include "lua/Json.h"

namespace partyline {
namespace {

constexpr char kStringTag = 's';  // the first byte of a stored string
constexpr char kJsonTag = 'j';    // the first byte of a stored number, boolean or table

ShardView& viewOf(lua_State* L) {
    return *static_cast<ShardView*>(lua_touserdata(L, lua_upvalueindex(1)));
}

KeyValue::Clock::time_point deadline() {
    return KeyValue::Clock::now() + BlockingCall::kDeadline;
}

// A Lua string still on the stack; no destructor, so a Lua error may skip it.
struct Text {
    const char* data = nullptr;
    size_t size = 0;
    std::string_view view() const { return {data, size}; }
};

bool readKey(lua_State* L, int index, const char* what, Text& key, BlockingCall::Error& error) {
    if (lua_type(L, index) != LUA_TSTRING) {
        error.set("%s: the key must be a string, got %s", what, luaL_typename(L, index));
        return false;
    }
    key.data = lua_tolstring(L, index, &key.size);
    if (key.size == 0 || key.size > kMaxRoomIdBytes) {
        error.set("%s: the key must be 1 to %zu bytes, got %zu", what, kMaxRoomIdBytes, key.size);
        return false;
    }
    return true;
}

// {expect = revision} at `index`, or nothing. (std::optional<uint64_t> has no destructor to skip.)
bool readExpect(lua_State* L, int index, const char* what, std::optional<uint64_t>& expect,
                BlockingCall::Error& error) {
    if (lua_isnoneornil(L, index)) return true;
    if (!lua_istable(L, index)) {
        error.set("%s: options must be a table such as {expect = 3}, got %s", what, luaL_typename(L, index));
        return false;
    }
    lua_getfield(L, index, "expect");
    bool valid = lua_isnil(L, -1) || (lua_isinteger(L, -1) && lua_tointeger(L, -1) >= 0);
    if (!lua_isnil(L, -1) && valid) expect = uint64_t(lua_tointeger(L, -1));
    lua_pop(L, 1);
    if (!valid) error.set("%s: expect must be a revision, an integer of at least 0", what);
    return valid;
}

// The value at `index` as stored: 's' and a string's bytes, or 'j' and JSON.
// Makes no Lua call that can raise (json encoding runs protected).
bool encodeValue(lua_State* L, int index, size_t limit, std::string& out, BlockingCall::Error& error) {
    int type = lua_type(L, index);
    if (type == LUA_TSTRING) {
        size_t size = 0;
        const char* bytes = lua_tolstring(L, index, &size);
        out.reserve(size + 1);
        out.assign(1, kStringTag).append(bytes, size);
    } else if (type == LUA_TNUMBER || type == LUA_TBOOLEAN || type == LUA_TTABLE) {
        auto json = lua::toJson(L, index);
        if (!json) {
            error.set("room.storage:put: the value cannot be stored: %s", json.status().message().c_str());
            return false;
        }
        out.assign(1, kJsonTag).append(json.value());
    } else {
        error.set(
            "room.storage:put: the value must be a string, number, boolean or table, got %s "
            "(room.storage:delete removes a key)",
            luaL_typename(L, index));
        return false;
    }
    if (out.size() > limit) {
        error.set("room.storage:put: the value is %zu bytes stored, over limits.storage_value_bytes (%zu)",
                  out.size(), limit);
        return false;
    }
    return true;
}

// Pushes what the stored bytes at `index` stand for.
bool pushStored(lua_State* L, int index, BlockingCall::Error& error) {
    size_t size = 0;
    const char* raw = lua_tolstring(L, index, &size);
    if (size > 0 && raw[0] == kStringTag) {
        lua_pushlstring(L, raw + 1, size - 1);
        return true;
    }
    if (size == 0 || raw[0] != kJsonTag) {  // not written by room.storage: as it is
        lua_pushvalue(L, index);
        return true;
    }
    Status decoded = lua::pushJson(L, std::string_view(raw + 1, size - 1));
    if (!decoded) error.set("room.storage: a stored value is not valid JSON: %s", decoded.message().c_str());
    return decoded.isOk();
}

// The bucket's key of a room's storage key: <party>.<room>.<key>, encoded.
std::string bucketKey(const std::string& keyPrefix, const Text& key) {
    return keyPrefix + "." + encodeSubjectToken(key.view(), "storage key").value();
}

HandlerQueue::Resumer succeeded(std::function<int(lua_State*)> pushResults) {
    return [push = std::move(pushResults)](lua_State* co) {
        lua_pushboolean(co, 1);
        return 1 + push(co);
    };
}

HandlerQueue::Resumer conflict() {
    return succeeded([](lua_State* co) {
        lua_pushnil(co);
        lua_pushliteral(co, "conflict");
        return 2;
    });
}

}  // namespace

bool StorageApi::begin(lua_State* L, ShardView& view, const char* what, BlockingCall::Error& error) {
    if (!lua_istable(L, 1)) {
        error.set("call %s(...) with a colon", what);
        return false;
    }
    if (!view.storage()) {
        error.set("room.storage is not enabled for party '%s': set storage: true for it in the configuration",
                  view.partyName().c_str());
        return false;
    }
    return BlockingCall::mayBlock(L, view, what, error);
}

// room.storage:get(key) -> value, revision; nil when the key has no value.
int StorageApi::get(lua_State* L) {
    static constexpr const char* kWhat = "room.storage:get";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    Text key;
    if (!begin(L, view, kWhat, error) || !readKey(L, 2, kWhat, key, error))
        return BlockingCall::raise(L, error);
    view.handlers().callBlocking([kv = view.storage(), key = bucketKey(view.keyPrefix(), key),
                                  deadline = deadline()]() -> HandlerQueue::Resumer {
        auto entry = kv->get(key, deadline);
        if (!entry && entry.status().code() == Code::NotFound)
            return succeeded([](lua_State* co) {
                lua_pushnil(co);
                return 1;
            });
        if (!entry) return BlockingCall::failure(kWhat, entry.status());
        return succeeded([entry = std::move(entry.value())](lua_State* co) {
            lua_pushlstring(co, entry.value.data(), entry.value.size());
            lua_pushinteger(co, lua_Integer(entry.revision));
            return 2;
        });
    });
    return BlockingCall::yield(L, getDone);
}

int StorageApi::getDone(lua_State* L, int, lua_KContext base) {
    const int first = BlockingCall::results(L, base);
    if (lua_isnil(L, first)) return 1;
    BlockingCall::Error error;
    if (!pushStored(L, first, error)) return BlockingCall::raise(L, error);
    lua_pushvalue(L, first + 1);  // the revision
    return 2;
}

// room.storage:put(key, value [, {expect = revision}]) -> revision, or nil and "conflict".
int StorageApi::put(lua_State* L) {
    static constexpr const char* kWhat = "room.storage:put";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    Text key;
    std::optional<uint64_t> expect;
    if (!begin(L, view, kWhat, error) || !readKey(L, 2, kWhat, key, error) ||
        !readExpect(L, 4, kWhat, expect, error))
        return BlockingCall::raise(L, error);
    {
        std::string stored;
        if (encodeValue(L, 3, view.limits().storage_value_bytes, stored, error)) {
            view.handlers().callBlocking([kv = view.storage(), key = bucketKey(view.keyPrefix(), key),
                                          stored = std::move(stored), expect,
                                          deadline = deadline()]() -> HandlerQueue::Resumer {
                auto revision = kv->put(key, stored, expect, deadline);
                if (!revision && revision.status().code() == Code::Conflict) return conflict();
                if (!revision) return BlockingCall::failure(kWhat, revision.status());
                return succeeded([revision = revision.value()](lua_State* co) {
                    lua_pushinteger(co, lua_Integer(revision));
                    return 1;
                });
            });
        }
    }
    if (error) return BlockingCall::raise(L, error);
    return BlockingCall::yield(L, BlockingCall::allResults);
}

// room.storage:delete(key [, {expect = revision}]) -> true, or nil and "conflict".
int StorageApi::remove(lua_State* L) {
    static constexpr const char* kWhat = "room.storage:delete";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    Text key;
    std::optional<uint64_t> expect;
    if (!begin(L, view, kWhat, error) || !readKey(L, 2, kWhat, key, error) ||
        !readExpect(L, 3, kWhat, expect, error))
        return BlockingCall::raise(L, error);
    if (expect == uint64_t(0)) {
        error.set("%s: expect must be the revision of the value to delete, at least 1", kWhat);
        return BlockingCall::raise(L, error);
    }
    {
        view.handlers().callBlocking([kv = view.storage(), key = bucketKey(view.keyPrefix(), key), expect,
                                      deadline = deadline()]() -> HandlerQueue::Resumer {
            Status erased = kv->erase(key, expect, deadline);
            if (erased.code() == Code::Conflict) return conflict();
            if (!erased) return BlockingCall::failure(kWhat, erased);
            return succeeded([](lua_State* co) {
                lua_pushboolean(co, 1);
                return 1;
            });
        });
    }
    return BlockingCall::yield(L, BlockingCall::allResults);
}

// room.storage:list([prefix]) -> {key = value, ...} for every key starting with prefix.
int StorageApi::list(lua_State* L) {
    static constexpr const char* kWhat = "room.storage:list";
    ShardView& view = viewOf(L);
    BlockingCall::Error error;
    Text prefix;
    if (!begin(L, view, kWhat, error)) return BlockingCall::raise(L, error);
    if (!lua_isnoneornil(L, 2)) {
        if (lua_type(L, 2) != LUA_TSTRING) {
            error.set("%s: the prefix must be a string, got %s", kWhat, luaL_typename(L, 2));
            return BlockingCall::raise(L, error);
        }
        prefix.data = lua_tolstring(L, 2, &prefix.size);
    }
    if (prefix.size > kMaxRoomIdBytes) {
        error.set("%s: the prefix is %zu bytes, longer than any key (%zu)", kWhat, prefix.size,
                  kMaxRoomIdBytes);
        return BlockingCall::raise(L, error);
    }
    {
        // Each byte has one encoding, so an encoded key starts with the encoded prefix.
        std::string prefixToken = prefix.size == 0 ? "" : encodeSubjectToken(prefix.view(), "prefix").value();
        view.handlers().callBlocking(
            [kv = view.storage(), parent = view.keyPrefix(), prefixToken = std::move(prefixToken),
             maxBytes = view.limits().lua_memory_bytes, deadline = deadline()]() -> HandlerQueue::Resumer {
                auto entries = kv->list(parent, maxBytes, deadline);
                if (!entries && entries.status().code() == Code::TooLarge)
                    return BlockingCall::failure(kWhat,
                                                 Status(Code::TooLarge,
                                                        "the values listed exceed limits.lua_memory_bytes; "
                                                        "list a longer prefix"));
                if (!entries) return BlockingCall::failure(kWhat, entries.status());
                std::vector<std::pair<std::string, std::string>> found;  // key, stored bytes
                for (auto& entry : entries.value()) {
                    std::string_view token = std::string_view(entry.key).substr(parent.size() + 1);
                    if (token.compare(0, prefixToken.size(), prefixToken) != 0) continue;
                    auto key = decodeSubjectToken(token);
                    if (key) found.emplace_back(std::move(key.value()), std::move(entry.value));
                }
                return succeeded([found = std::move(found)](lua_State* co) {
                    lua_createtable(co, 0, int(found.size()));
                    for (const auto& [key, stored] : found) {
                        lua_pushlstring(co, key.data(), key.size());
                        lua_pushlstring(co, stored.data(), stored.size());
                        lua_rawset(co, -3);
                    }
                    return 1;
                });
            });
    }
    return BlockingCall::yield(L, listDone);
}

// Replaces each stored value of the listed table with what it stands for.
int StorageApi::listDone(lua_State* L, int, lua_KContext base) {
    const int table = BlockingCall::results(L, base);
    BlockingCall::Error error;
    lua_pushnil(L);
    while (lua_next(L, table)) {  // key, stored
        if (!pushStored(L, lua_gettop(L), error)) return BlockingCall::raise(L, error);
        lua_pushvalue(L, -3);  // key, stored, value, key
        lua_insert(L, -2);     // key, stored, key, value
        lua_rawset(L, table);  // an existing field: allowed while traversing
        lua_pop(L, 1);         // key
    }
    lua_settop(L, table);
    return 1;
}

void StorageApi::pushStorage(lua_State* L, ShardView& view) {
    static const luaL_Reg methods[] = {
        {"get", get}, {"put", put}, {"delete", remove}, {"list", list}, {nullptr, nullptr}};
    lua_createtable(L, 0, 4);
    lua_pushlightuserdata(L, &view);
    luaL_setfuncs(L, methods, 1);
    lua_setfield(L, -2, "storage");
}

}  // namespace partyline
