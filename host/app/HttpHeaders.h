// HttpHeaders: a request's header fields by lower-case name, as the node reads them. Pure: built
// from the (name, value) pairs CivetWeb parsed, so it can be tested and fuzzed without a server.
//
// A name sent more than once has its values joined with ", " (RFC 9110 section 5.3), so list
// headers such as Connection read the same whether they came in one field or several.
#pragma once

#include <map>
#include <string>
#include <string_view>

namespace partyline {

class HttpHeaders {
   public:
    void add(std::string_view name, std::string_view value);

    // The value of `lowerName`, or nullptr when the request did not send it.
    const std::string* find(std::string_view lowerName) const;
    // True when the comma-separated list in `lowerName` holds `token`, compared without case and
    // around optional whitespace ("keep-alive, Upgrade" holds "upgrade").
    bool hasToken(std::string_view lowerName, std::string_view token) const;
    // The same test on one field's value.
    static bool listHasToken(std::string_view list, std::string_view token);

    // Every field, for the room's request.headers.
    const std::map<std::string, std::string, std::less<>>& all() const { return fields_; }

   private:
    std::map<std::string, std::string, std::less<>> fields_;
};

}  // namespace partyline
