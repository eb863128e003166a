// Party: a kind of room, named in the configuration and backed by one script.
//
// The script's text is read and syntax-checked once when the node starts, so
// a broken script answers 500 on every request to its party instead of
// failing inside each new shard. Shards load their own copy of the text into
// their own sandboxed state.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "config/Config.h"
#include "core/Status.h"

namespace partyline {

struct Script {
    std::string path;    // as named in the configuration; used in every error message
    std::string source;  // empty when it could not be read
    Status error;        // why it cannot run: unreadable, or a syntax error "path:line: ..."
};

class Party {
public:
    explicit Party(const PartyConfig& config);

    const std::string& name() const { return name_; }
    bool storage() const { return storage_; }
    // A router party has no script: see RouterConfig.
    bool isRouter() const { return router_.shards > 0; }
    const RouterConfig& router() const { return router_; }
    std::shared_ptr<const Script> script() const { return script_; }

    // Reads and syntax-checks the script file.
    void load();

private:
    std::string name_;
    std::string scriptPath_;
    bool storage_;
    RouterConfig router_;
    std::shared_ptr<const Script> script_;
};

// Every party of the configuration, loaded. Read-only after start.
class Parties {
public:
    explicit Parties(const Config& config);
    const Party* find(const std::string& name) const;
    const std::map<std::string, std::unique_ptr<Party>>& all() const { return parties_; }

private:
    std::map<std::string, std::unique_ptr<Party>> parties_;
};

// Compiles a text chunk without running it; the error reads "path:line: message".
Status checkScriptSyntax(const std::string& source, const std::string& path);

}  // namespace partyline
