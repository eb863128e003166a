#include "bus/NatsError.h"

#include <string>

namespace partyline {
namespace {

// nats.c decorates its last error with "(file.c:123): "; users want the words.
std::string withoutSourceLocations(const std::string& text) {
    std::string out;
    for (size_t i = 0; i < text.size();) {
        size_t close = text[i] == '(' ? text.find(')', i) : std::string::npos;
        std::string_view inside = close == std::string::npos
                                      ? std::string_view()
                                      : std::string_view(text).substr(i + 1, close - i - 1);
        size_t colon = inside.find(".c:");
        bool location = colon != std::string_view::npos && colon > 0 && colon + 3 < inside.size() &&
                        inside.find_first_not_of("0123456789", colon + 3) == std::string_view::npos &&
                        inside.find(' ') == std::string_view::npos;
        if (!location) {
            out += text[i++];
            continue;
        }
        i = close + 1;
        if (i < text.size() && text[i] == ':') ++i;
        if (i < text.size() && text[i] == ' ') ++i;
    }
    return out;
}

}  // namespace

Code codeFor(natsStatus s) {
    switch (s) {
        case NATS_TIMEOUT:
            return Code::Timeout;
        case NATS_NOT_FOUND:
            return Code::NotFound;
        case NATS_INVALID_ARG:
        case NATS_INVALID_SUBJECT:
            return Code::InvalidArgument;
        case NATS_MAX_PAYLOAD:
            return Code::TooLarge;
        case NATS_NO_RESPONDERS:
        case NATS_CONNECTION_CLOSED:
        case NATS_CONNECTION_DISCONNECTED:
        case NATS_NO_SERVER:
        case NATS_NOT_YET_CONNECTED:
        case NATS_STALE_CONNECTION:
        case NATS_IO_ERROR:
        case NATS_CONNECTION_AUTH_FAILED:
        case NATS_INSUFFICIENT_BUFFER:
            return Code::Unavailable;
        default:
            return Code::Internal;
    }
}

Status natsFailure(natsStatus s, std::string_view what, jsErrCode jsErr) {
    std::string text = natsStatus_GetText(s);
    if (const char* last = nats_GetLastError(nullptr); last != nullptr && *last != '\0') {
        std::string detail = withoutSourceLocations(last);
        // The detail repeats the status text or, for a server error, is the server's words.
        if (detail.find(text) != std::string::npos || (s == NATS_ERR && !detail.empty())) {
            text = detail;
        } else if (!detail.empty()) {
            text += " (" + detail + ")";
        }
    }
    if (jsErr != 0) text += " [err_code " + std::to_string(int(jsErr)) + "]";
    return Status(codeFor(s), std::string(what) + ": " + text);
}

}  // namespace partyline
