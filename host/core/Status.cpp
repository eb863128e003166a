#include "core/Status.h"

namespace partyline {

const char* codeName(Code code) {
    switch (code) {
        case Code::Ok:
            return "ok";
        case Code::InvalidArgument:
            return "invalid argument";
        case Code::NotFound:
            return "not found";
        case Code::Conflict:
            return "conflict";
        case Code::Unavailable:
            return "unavailable";
        case Code::Timeout:
            return "timeout";
        case Code::TooLarge:
            return "too large";
        case Code::ResourceExhausted:
            return "resource exhausted";
        case Code::RateLimited:
            return "rate limited";
        case Code::Internal:
            return "internal";
    }
    return "unknown";
}

}  // namespace partyline
