#include "app/RequestFraming.h"

#include <strings.h>

#include <algorithm>

namespace partyline {
namespace {

bool named(std::string_view field, const char* name) {
    return field.size() == std::char_traits<char>::length(name) &&
           strncasecmp(field.data(), name, field.size()) == 0;
}

// 1*DIGIT once the optional whitespace after the value is dropped (CivetWeb drops it before).
bool plainDigits(std::string_view value) {
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    return !value.empty() &&
           std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

std::optional<FramingRefusal> checkFraming(const HeaderFields& fields, size_t maxHeaders) {
    if (fields.size() > maxHeaders)
        return FramingRefusal{431, "the request has more than " + std::to_string(maxHeaders) +
                                       " header fields (limits.max_headers)"};
    size_t lengths = 0, encodings = 0;
    for (const auto& [name, value] : fields) {
        if (named(name, "Content-Length")) {
            if (++lengths > 1) return FramingRefusal{400, "the request has more than one Content-Length"};
            if (!plainDigits(value))
                return FramingRefusal{400, "Content-Length must be a number of bytes in decimal digits"};
        } else if (named(name, "Transfer-Encoding")) {
            if (++encodings > 1)
                return FramingRefusal{400, "the request has more than one Transfer-Encoding"};
        }
    }
    if (lengths && encodings)
        return FramingRefusal{400, "the request has both Content-Length and Transfer-Encoding"};
    return std::nullopt;
}

}  // namespace partyline
