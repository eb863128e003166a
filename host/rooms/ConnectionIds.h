// ConnectionIds: which connection holds which id in one room on this node, and the rules for
// taking an id that is in use.
//
// A client may ask for its id (`_pk`). A free id is its own. An id in use goes to the newcomer
// only when it proves it is the same client:
//   - it presents the resume secret the holder was given (in its partyline.v1 welcome frame):
//     the newcomer resumes the id and replaces the holder;
//   - on a party with auth, it carries the same verified identity (`sub`) as the holder: it
//     replaces the holder, as a reconnecting client expects;
//   - on a party with auth, another verified identity is refused (409), so no one is kicked;
//   - anyone else gets a fresh id chosen by the node, and the holder stays.
// Every connection gets a new resume secret; secrets are compared in constant time.
// Must not: close or reach connections (the Shard replaces the holder when the newcomer joins),
// or hand out an id it already holds for someone else.
//
// Threads: any (CivetWeb workers claim, the Reactor's thread releases); one mutex guards the table.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace partyline {

// What a connection asks for and can show.
struct IdRequest {
    std::string wanted;      // the `_pk` asked for; empty: the node chooses
    std::string identity;    // the verified token's `sub` under the party's auth; empty: none
    std::string resume;      // the resume secret presented (`_resume`); empty: none
    bool authParty = false;  // the party checks tokens (parties.X.auth)
};

// Who holds an id now, as the rules see it.
struct IdHolder {
    std::string identity;
    std::string resume;
};

enum class IdOutcome {
    Granted,   // the id asked for was free, or none was asked for
    Resumed,   // the resume secret matched: the holder is replaced
    Replaced,  // the same verified identity: the holder is replaced
    Fresh,     // the id is in use and nothing proved the newcomer is its holder: another id
    Refused,   // a party with auth, the id in use by another identity: no connection (409)
};

// The rules alone: what a request for an id held by `holder` (null: free) gets.
IdOutcome decideId(const IdRequest& request, const IdHolder* holder);

class ConnectionIds {
   public:
    struct Claim {
        IdOutcome outcome;
        std::string id;       // the connection's id; empty when Refused
        std::string resume;   // its resume secret, for the welcome frame
        uint64_t ticket = 0;  // give the id back with release(id, ticket)
    };

    Claim claim(const IdRequest& request);
    // The connection that claimed `id` with `ticket` is gone; a later holder of the id keeps it.
    void release(const std::string& id, uint64_t ticket);
    size_t size() const;

    // A new id: 32 hex digits from the system's random source.
    static std::string randomId();

   private:
    struct Entry {
        IdHolder holder;
        uint64_t ticket;
    };

    mutable std::mutex mutex_;
    std::map<std::string, Entry> held_;
    uint64_t nextTicket_ = 1;
};

}  // namespace partyline
