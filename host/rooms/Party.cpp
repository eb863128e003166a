#include "rooms/Party.h"

#include <fstream>
#include <sstream>

extern "C" {
#include <lua.h>
}

#include "core/Log.h"
#include "lua/State.h"
#include "rooms/ScriptCheck.h"

namespace partyline {

Party::Party(const PartyConfig& config, const Limits& limits)
    : name_(config.name),
      scriptPath_(config.script),
      limits_(limits),
      storage_(config.storage),
      presenceCounts_(config.presence == "count"),
      router_(config.router),
      env_([&config] {
          std::map<std::string, std::string> env;
          for (const auto& [name, value] : config.env) env.emplace(name, value.reveal());
          return std::make_shared<const std::map<std::string, std::string>>(std::move(env));
      }()),
      fetchAllow_(config.fetch ? std::make_shared<const net::FetchPolicy>(config.fetch->allow) : nullptr) {
    load();
}

// A script with onPresence in a party announcing counts: the handler never runs, so say so once
// a load. `state` has the script's table of handlers on top.
void Party::warnOnPresence(lua::State& state) const {
    lua_State* L = state.L();
    if (!lua_istable(L, -1)) return;
    lua_getfield(L, -1, "onPresence");
    bool has = lua_isfunction(L, -1);
    lua_pop(L, 1);
    if (has)
        log::warn("party",
                  "onPresence is never called: the party announces presence counts only (presence: count)",
                  {{"party", name_}, {"script", scriptPath_}});
}

void Party::load() {
    auto script = std::make_shared<Script>();
    script->path = scriptPath_;
    if (isRouter()) {
        script->error = Status(Code::InvalidArgument, "party '" + name_ + "' is a router and runs no script");
        std::lock_guard lock(mutex_);
        script_ = std::move(script);
        return;
    }
    std::error_code ignored;
    auto modified = std::filesystem::last_write_time(scriptPath_, ignored);
    auto size = std::filesystem::file_size(scriptPath_, ignored);
    std::ifstream in(scriptPath_, std::ios::binary);
    if (!in) {
        script->error = Status(Code::NotFound, "cannot read script " + scriptPath_);
    } else {
        std::ostringstream text;
        text << in.rdbuf();
        script->source = text.str();
        auto compiled = lua::State::compile(script->source, scriptPath_);
        if (!compiled) {
            script->error = compiled.status();
        } else {
            script->chunk = std::move(compiled.value());
            // One run as a shard's: an error while it runs refuses it as a syntax error does.
            auto loaded = loadRoomScript(script->source, scriptPath_, limits_);
            script->error = loaded.status();
            if (loaded && presenceCounts_) warnOnPresence(*loaded.value());
        }
    }
    std::lock_guard lock(mutex_);
    modified_ = modified;
    size_ = size;
    // A broken edit leaves the last good version running.
    if (!script->error.isOk() && script_ && script_->error.isOk()) {
        loadError_ = script->error;
        return;
    }
    loadError_ = Status::ok();
    script_ = std::move(script);
}

Status Party::loadError() const {
    std::lock_guard lock(mutex_);
    return loadError_;
}

bool Party::reloadIfChanged(bool force) {
    if (isRouter()) return false;
    if (!force) {
        std::error_code error;
        auto modified = std::filesystem::last_write_time(scriptPath_, error);
        if (error) return false;  // being replaced: look again next time
        auto size = std::filesystem::file_size(scriptPath_, error);
        std::lock_guard lock(mutex_);
        if (error || (modified == modified_ && size == size_)) return false;
    }
    load();
    return true;
}

Parties::Parties(const Config& config) {
    for (const auto& [name, party] : config.parties)
        parties_.emplace(name, std::make_unique<Party>(party, config.limits));
}

const Party* Parties::find(const std::string& name) const {
    auto it = parties_.find(name);
    return it == parties_.end() ? nullptr : it->second.get();
}

Party* Parties::find(const std::string& name) {
    auto it = parties_.find(name);
    return it == parties_.end() ? nullptr : it->second.get();
}

}  // namespace partyline
