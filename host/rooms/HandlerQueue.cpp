#include "rooms/HandlerQueue.h"

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

#include "core/Log.h"
#include "lua/Json.h"
#include "lua/State.h"
#include "rooms/FetchApi.h"
#include "rooms/RoomApi.h"

namespace partyline {

HandlerQueue::HandlerQueue(ShardContext& context, ShardView& view, Strand& strand,
                           std::shared_ptr<const Script> script)
    : context_(context), view_(view), strand_(strand), script_(std::move(script)) {}

HandlerQueue::~HandlerQueue() = default;

std::string HandlerQueue::room() const {
    return view_.partyName() + "/" + view_.roomId();
}

// ---- the script ------------------------------------------------------------

void HandlerQueue::load() {
    if (!lua_ && scriptError_.isOk()) loadScript();
}

void HandlerQueue::loadScript() {
    if (Status loaded = loadState(script_); !loaded) {
        scriptError_ = loaded;
        context_.luaErrors++;
        log::error("shard", "script failed: " + loaded.message(), {{"room", room()}});
    }
}

// Makes a new Lua state running `script` and, when it loads, makes it the
// shard's: handlers, the room table, the conn tables, and onStart queued.
Status HandlerQueue::loadState(const std::shared_ptr<const Script>& script) {
    if (!script->error.isOk()) return script->error;
    auto state =
        lua::State::create({context_.limits.lua_memory_bytes, context_.limits.lua_instructions_per_call,
                            std::chrono::milliseconds(context_.limits.lua_cpu_ms_per_call)});
    if (!state) return state.status();
    std::unique_ptr<lua::State> lua = std::move(state.value());
    lua->setLogSink([room = room()](log::Level level, std::string_view at, std::string_view m) {
        log::write(level, "lua", m, {{"room", room}, {"at", std::string(at)}});
    });
    FetchApi::install(lua->L(), &view_);  // a global, so the script's top level can keep it as a local
    Status loaded = script->chunk.empty() ? lua->loadScript(script->source, script->path)
                                          : lua->loadCompiled(script->chunk, script->path);
    lua_State* L = lua->L();
    if (loaded && !lua_istable(L, -1))
        loaded = Status(Code::InvalidArgument, script->path + ": the script must return a table of handlers");
    if (!loaded) return loaded;
    lua_ = std::move(lua);
    script_ = script;
    scriptError_ = Status::ok();
    ++generation_;
    moduleRef_ = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_rawgeti(L, LUA_REGISTRYINDEX, moduleRef_);
    RoomApi::rawField(L, -1, "onWrite");
    hasOnWrite_ = lua_isfunction(L, -1);
    RoomApi::rawField(L, -2, "onBeforeConnect");
    admitsAll_ = !lua_isfunction(L, -1);
    RoomApi::rawField(L, -3, "onPresence");
    hasOnPresence_ = lua_isfunction(L, -1);
    lua_pop(L, 4);
    RoomApi::pushRoom(L, view_);
    roomRef_ = luaL_ref(L, LUA_REGISTRYINDEX);
    for (auto& [id, ref] : connections_) {
        RoomApi::pushConn(L, view_, id);
        // The new state's conn tables start as the old ones were announced.
        if (auto info = presence_.find(id); info != presence_.end() && lua::pushJson(L, info->second))
            lua_setfield(L, -2, "presence");
        ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    enqueue({"onStart",
             [this](lua_State* co) {
                 lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
                 return 1;
             },
             {}});
    return Status::ok();
}

void HandlerQueue::reload(std::shared_ptr<const Script> script) {
    if (!lua_) return swapScript(std::move(script));
    // Between handlers: the running one finishes with the state it began with.
    enqueue({nullptr, {}, [this, script](lua_State*, int, const Status&) { swapScript(script); }});
}

void HandlerQueue::swapScript(std::shared_ptr<const Script> script) {
    std::unique_ptr<lua::State> old = std::move(lua_);
    Status loaded = loadState(script);
    if (!loaded) {
        lua_ = std::move(old);
        log::error("shard", "reload failed, the running version stays: " + loaded.message(),
                   {{"room", room()}});
        return;
    }
    log::info("shard", "reloaded " + script->path, {{"room", room()}});
}

// ---- the handlers ------------------------------------------------------------

void HandlerQueue::callOnConnect(const std::string& id, HttpRequest request) {
    lua_State* L = lua_->L();
    if (auto old = connections_.find(id); old != connections_.end()) {
        // Same connection id twice: the newer one wins.
        luaL_unref(L, LUA_REGISTRYINDEX, old->second);
        connections_.erase(old);
    }
    presence_.erase(id);
    RoomApi::pushConn(L, view_, id);
    connections_.emplace(id, luaL_ref(L, LUA_REGISTRYINDEX));
    enqueue({"onConnect",
             [this, id, request = std::move(request)](lua_State* co) {
                 lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
                 pushConnection(co, id);
                 RoomApi::pushRequest(co, request);
                 return 3;
             },
             {}});
}

void HandlerQueue::callOnMessage(const std::string& id, std::string payload, bool binary) {
    enqueue({"onMessage",
             [this, id, payload = std::move(payload), binary](lua_State* co) {
                 lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
                 if (!pushConnection(co, id)) return -1;  // closed meanwhile
                 lua_pushboolean(co, binary);
                 lua_setfield(co, -2, "binary");
                 lua_pushlstring(co, payload.data(), payload.size());
                 return 3;
             },
             {},
             id});
}

void HandlerQueue::callOnClose(const std::string& id, uint16_t code, std::string reason) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    int ref = it->second;
    connections_.erase(it);
    presence_.erase(id);
    if (!lua_) return;
    enqueue({"onClose",
             [this, ref, code, reason = std::move(reason), id, generation = generation_](lua_State* co) {
                 lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
                 // A reload since the close made a new state: the old table is gone.
                 if (generation == generation_)
                     lua_rawgeti(co, LUA_REGISTRYINDEX, ref);
                 else
                     RoomApi::pushConn(co, view_, id);
                 lua_pushinteger(co, code);
                 lua_pushlstring(co, reason.data(), reason.size());
                 return 4;
             },
             [this, ref, generation = generation_](lua_State*, int, const Status&) {
                 if (lua_ && generation == generation_) luaL_unref(lua_->L(), LUA_REGISTRYINDEX, ref);
             }});
}

void HandlerQueue::callOnRequest(HttpRequest request, Respond respond) {
    if (!canRun()) return respondBroken(respond);
    auto shared = std::make_shared<Respond>(std::move(respond));
    enqueue({"onRequest",
             [this, request = std::move(request)](lua_State* co) {
                 callers_ = request.callers;
                 pushRoomAndRequest(co, request);
                 return 2;
             },
             [shared](lua_State* co, int nresults, const Status& error) {
                 if (!error.isOk()) {
                     (*shared)(HttpResponse::text(500, "room handler failed: " + error.message() + "\n"));
                     return;
                 }
                 if (!co) {
                     (*shared)(HttpResponse::text(404, "this room has no onRequest handler\n"));
                     return;
                 }
                 (*shared)(RoomApi::toResponse(co, nresults));
             }});
}

void HandlerQueue::callOnBeforeConnect(HttpRequest request,
                                       std::function<void(std::optional<HttpResponse>)> decide) {
    if (!canRun()) {
        respondBroken([&](HttpResponse r) { decide(std::move(r)); });
        return;
    }
    auto shared = std::make_shared<decltype(decide)>(std::move(decide));
    enqueue({"onBeforeConnect",
             [this, request = std::move(request)](lua_State* co) {
                 pushRoomAndRequest(co, request);
                 return 2;
             },
             [shared](lua_State* co, int nresults, const Status& error) {
                 if (!error.isOk()) {
                     (*shared)(HttpResponse::text(500, "onBeforeConnect failed: " + error.message() + "\n"));
                     return;
                 }
                 (*shared)(co ? RoomApi::toRefusal(co, nresults) : std::nullopt);
             }});
}

void HandlerQueue::callOnAlarm(std::function<void(bool taken)> done) {
    if (!lua_) {  // the shard started before this call: the script did not load
        log::error("shard", "alarm dropped, the script does not load: " + scriptError_.message(),
                   {{"room", room()}});
        return done(true);
    }
    enqueue({"onAlarm",
             [this](lua_State* co) {
                 lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
                 return 1;
             },
             [done](lua_State*, int, const Status&) { done(true); }});
}

void HandlerQueue::callOnWrite(const LogEntry& entry) {
    if (!hasOnWrite_) return;
    enqueue({"onWrite",
             [this, seq = entry.seq, data = entry.data, binary = entry.binary](lua_State* co) {
                 lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
                 lua_createtable(co, 0, 3);
                 lua_pushinteger(co, lua_Integer(seq));
                 lua_setfield(co, -2, "seq");
                 lua_pushlstring(co, data.data(), data.size());
                 lua_setfield(co, -2, "data");
                 lua_pushboolean(co, binary);
                 lua_setfield(co, -2, "binary");
                 return 2;
             },
             {}});
}

void HandlerQueue::callOnPresence(PresenceChange change) {
    if (!lua_) return;
    auto shared = std::make_shared<PresenceChange>(std::move(change));
    enqueue({"onPresence",
             [this, shared](lua_State* co) {
                 lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
                 lua_createtable(co, 0, 2);
                 RoomApi::pushPresenceList(co, shared->joined);
                 lua_setfield(co, -2, "joined");
                 RoomApi::pushPresenceList(co, shared->left);
                 lua_setfield(co, -2, "left");
                 return 2;
             },
             {}});
}

void HandlerQueue::respondBroken(const Respond& respond) const {
    respond(HttpResponse::text(
        500, "party '" + view_.partyName() + "' cannot run its script: " + scriptError_.message() + "\n"));
}

// The arguments (room, req) of onRequest and onBeforeConnect.
void HandlerQueue::pushRoomAndRequest(lua_State* co, const HttpRequest& request) const {
    lua_rawgeti(co, LUA_REGISTRYINDEX, roomRef_);
    RoomApi::pushRequest(co, request);
}

int HandlerQueue::pushConnection(lua_State* L, const std::string& id) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, it->second);
    touched_.insert(id);
    return 1;
}

void HandlerQueue::readPresence(const char* handler) {
    if (!lua_) return;
    lua_State* L = lua_->L();
    if (touchedAll_) {
        for (const auto& [id, ref] : connections_) readPresenceOf(L, id, ref, handler);
    } else {
        for (const auto& id : touched_)
            if (auto it = connections_.find(id); it != connections_.end())
                readPresenceOf(L, id, it->second, handler);
    }
    touched_.clear();
    touchedAll_ = false;
}

void HandlerQueue::readPresenceOf(lua_State* L, const std::string& id, int ref, const char* handler) {
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    int conn = lua_gettop(L);
    auto info = RoomApi::readPresence(L, conn);
    std::string& announced = presence_[id];
    if (info && info.value() != announced) {
        announced = info.value();
        view_.setPresence(id, announced);
    } else if (!info) {
        context_.luaErrors++;
        log::error("lua", "conn.presence refused, the value before stays: " + info.status().message(),
                   {{"room", room()}, {"handler", handler}, {"conn", id}});
        lua_pushliteral(L, "presence");
        if (announced.empty() || !lua::pushJson(L, announced)) lua_pushnil(L);
        lua_rawset(L, conn);
    }
    if (announced.empty()) presence_.erase(id);
    lua_settop(L, conn - 1);
}

// ---- Lua calls, one at a time ------------------------------------------------

void HandlerQueue::enqueue(LuaCall call) {
    calls_.push_back(std::move(call));
    pump();
}

void HandlerQueue::pump() {
    while (!running_ && !calls_.empty() && lua_) {
        LuaCall call = std::move(calls_.front());
        calls_.pop_front();
        if (!call.handler) {  // work that waits for the handlers before it, such as a reload
            call.done(nullptr, 0, Status::ok());
            continue;
        }
        startCall(std::move(call));
    }
}

void HandlerQueue::startCall(LuaCall call) {
    lua_State* L = lua_->L();
    lua_rawgeti(L, LUA_REGISTRYINDEX, moduleRef_);
    RoomApi::rawField(L, -1, call.handler);
    if (!lua_isfunction(L, -1)) {
        lua_pop(L, 2);
        if (call.done) call.done(nullptr, 0, Status::ok());
        return;
    }
    lua_State* co = lua_newthread(L);
    int ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_xmove(L, co, 1);  // the handler
    lua_pop(L, 1);        // the module table
    callers_.clear();     // onRequest's pushArgs sets them
    touched_.clear();
    touchedAll_ = false;
    int nargs = call.pushArgs(co);
    if (nargs < 0) {
        luaL_unref(L, LUA_REGISTRYINDEX, ref);
        if (call.done) call.done(nullptr, 0, Status::ok());
        return;
    }
    running_ = Running{co, ref, std::move(call)};
    lua_->beginCall();
    resume(nargs);
}

void HandlerQueue::resume(int nargs) {
    auto result = lua_->resume(running_->co, nargs);
    if (result.run == lua::State::Run::Yielded) return;  // waiting for the log or a blocking call
    finishCall(result.nresults, result.error);
}

void HandlerQueue::finishCall(int nresults, const Status& error) {
    Running done = std::move(*running_);
    running_.reset();
    history_.reset();
    if (!error.isOk()) {
        context_.luaErrors++;
        if (error.code() == Code::ResourceExhausted) context_.luaBudgetStops++;
        log::error("lua", error.message(), {{"room", room()}, {"handler", done.call.handler}});
    }
    if (done.call.done) done.call.done(done.co, error.isOk() ? nresults : 0, error);
    readPresence(done.call.handler);
    if (lua_) {
        lua_settop(done.co, 0);
        luaL_unref(lua_->L(), LUA_REGISTRYINDEX, done.ref);
    }
    pump();
}

// ---- resuming a waiting handler ----------------------------------------------

// room:broadcast and room:append: the sequence, or nil and why.
void HandlerQueue::resumeAfterPublish(Result<uint64_t> result) {
    if (!running_ || !lua_) return;
    lua_State* co = running_->co;
    if (result) {
        lua_pushinteger(co, lua_Integer(result.value()));
        resume(1);
        return;
    }
    context_.publishErrors++;
    lua_pushnil(co);
    const std::string& why =
        result.status().code() == Code::Conflict ? std::string("conflict") : result.status().message();
    lua_pushlstring(co, why.data(), why.size());
    resume(2);
}

// room:history: RoomApi::historyRead builds the result inside the coroutine, under the memory cap.
void HandlerQueue::resumeAfterRead(Result<HistoryPage> page) {
    if (!running_ || !lua_) return;
    history_ = std::move(page);
    resume(0);
    history_.reset();  // read by now, or the handler failed reading it
}

void HandlerQueue::callBlocking(std::function<Resumer()> work) {
    // Blocking thread: the call, then the answer posted back to the strand.
    context_.blocking->makeStrand()->post(
        [resume = resumeLater(), work = std::move(work)] { resume(work()); });
}

HandlerQueue::Resume HandlerQueue::resumeLater() {
    // The owner is held until the handler was resumed, so a shard closed meanwhile (idle, say)
    // still finishes the handler and its request gets an answer. The reference moves into the
    // strand's task, so the shard is never destroyed on the answering thread while it runs.
    return [this, owner = owner_.lock()](Resumer push) mutable {
        if (!owner) return;
        strand_.post([this, keep = std::move(owner), push = std::move(push)] { resumeWith(push); });
    };
}

void HandlerQueue::resumeWith(const Resumer& push) {
    if (!running_ || !lua_) return;
    resume(push(running_->co));
}

}  // namespace partyline
