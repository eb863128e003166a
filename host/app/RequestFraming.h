// RequestFraming: the checks of RFC 9112 that decide where a request ends, made on the header
// fields CivetWeb parsed, before anything reads the body. Pure, so tests need no server.
//
// A request a proxy in front of the node could frame differently from the node is refused 400
// and its connection closed (request smuggling): both Content-Length and Transfer-Encoding,
// several Content-Lengths (even equal), a Content-Length that is not plain digits, several
// Transfer-Encodings. More fields than limits.max_headers get 431: CivetWeb keeps 64 and drops
// the rest unseen, so 64 fields may stand for more.
// Must not: look at anything but the fields (what CivetWeb 1.15 accepts without telling, such as
// a bare LF line end, is listed in README.md, Limits).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace partyline {

struct FramingRefusal {
    int status;       // 400 or 431
    std::string why;  // the body of the answer
};

using HeaderFields = std::vector<std::pair<std::string_view, std::string_view>>;

// Nothing when the request's framing is unambiguous and it has at most `maxHeaders` fields.
std::optional<FramingRefusal> checkFraming(const HeaderFields& fields, size_t maxHeaders);

}  // namespace partyline
