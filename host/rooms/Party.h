// Party: a kind of room, named in the configuration and backed by one script.
//
// The script's text is read, compiled and loaded once in a sandbox when the
// node starts and on every reload, so a broken script answers 500 on every
// request to its party instead of failing inside each new shard. Shards load
// the compiled chunk into their own sandboxed state.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "config/Config.h"
#include "core/Status.h"
#include "net/FetchPolicy.h"

namespace partyline {

namespace lua {
class State;
}

struct Script {
    std::string path;    // as named in the configuration; used in every error message
    std::string source;  // empty when it could not be read
    Status error;  // why it cannot run: unreadable, or it does not load (ScriptCheck.h): "path:line: ..."
    // The source compiled once here, as Lua bytecode with its line information, so a new shard
    // loads it without parsing the text again. Made only by lua::State::compile, never taken from
    // a script: Lua does not verify bytecode. Empty when the source does not compile (or was not
    // compiled: shards then load the source).
    std::string chunk;
};

class Party {
   public:
    Party(const PartyConfig& config, const Limits& limits);

    const std::string& name() const { return name_; }
    bool storage() const { return storage_; }
    // parties.X.presence is count: nodes announce their connection counts only, not lists.
    bool presenceCounts() const { return presenceCounts_; }
    // A router party has no script: see RouterConfig.
    bool isRouter() const { return router_.shards > 0; }
    const RouterConfig& router() const { return router_; }
    // room.env of the party's rooms: the configuration's parties.X.env, read-only.
    const std::shared_ptr<const std::map<std::string, std::string>>& env() const { return env_; }
    // parties.X.fetch.allow, which every fetch of the party's rooms must pass besides fetch.allow;
    // null when the party narrows nothing.
    const std::shared_ptr<const net::FetchPolicy>& fetchAllow() const { return fetchAllow_; }
    // Any thread.
    std::shared_ptr<const Script> script() const {
        std::lock_guard lock(mutex_);
        return script_;
    }

    // Reads the script file, compiles it and loads it once in a sandbox as a
    // shard would (loadRoomScript). When it does not load and a good version
    // was loaded before, script() stays that version and loadError() tells why
    // the new one was refused: running shards keep the good one, and new
    // shards start with it.
    void load();
    Status loadError() const;
    // Any thread. Loads the script again when its file changed (time or size)
    // since the last load, or always with `force`; true when it did.
    bool reloadIfChanged(bool force = false);

   private:
    void warnOnPresence(lua::State& state) const;
    std::string name_;
    std::string scriptPath_;
    Limits limits_;  // a shard's, to load the script as a shard does
    bool storage_;
    bool presenceCounts_;
    RouterConfig router_;
    std::shared_ptr<const std::map<std::string, std::string>> env_;
    std::shared_ptr<const net::FetchPolicy> fetchAllow_;
    mutable std::mutex mutex_;
    std::shared_ptr<const Script> script_;
    Status loadError_;
    std::filesystem::file_time_type modified_{};
    uintmax_t size_ = 0;
};

// Every party of the configuration, loaded. Read-only after start.
class Parties {
   public:
    explicit Parties(const Config& config);
    const Party* find(const std::string& name) const;
    Party* find(const std::string& name);
    const std::map<std::string, std::unique_ptr<Party>>& all() const { return parties_; }

   private:
    std::map<std::string, std::unique_ptr<Party>> parties_;
};

}  // namespace partyline
