#include "rooms/Party.h"

#include <fstream>
#include <sstream>

extern "C" {
#include <lauxlib.h>
#include <lua.h>
}

namespace partyline {

Party::Party(const PartyConfig& config)
    : name_(config.name), scriptPath_(config.script), storage_(config.storage), router_(config.router) {
    load();
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
        script->error = checkScriptSyntax(script->source, scriptPath_);
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
        parties_.emplace(name, std::make_unique<Party>(party));
}

const Party* Parties::find(const std::string& name) const {
    auto it = parties_.find(name);
    return it == parties_.end() ? nullptr : it->second.get();
}

Party* Parties::find(const std::string& name) {
    auto it = parties_.find(name);
    return it == parties_.end() ? nullptr : it->second.get();
}

Status checkScriptSyntax(const std::string& source, const std::string& path) {
    // A bare state only parses: nothing of the script runs here.
    std::unique_ptr<lua_State, decltype(&lua_close)> L(luaL_newstate(), &lua_close);
    if (!L) return Status(Code::Internal, "cannot create a Lua state");
    std::string chunk = "@" + path;
    if (luaL_loadbufferx(L.get(), source.data(), source.size(), chunk.c_str(), "t") != LUA_OK)
        return Status(Code::InvalidArgument, lua_tostring(L.get(), -1));
    return Status::ok();
}

}  // namespace partyline
