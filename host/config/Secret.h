// Secret: a configuration string that must never be printed (an API key, a JWT secret, a room's
// env value).
//
// It has no conversion to std::string: the value is read only through reveal(), so writing a
// Secret into a log line or a message prints "<set>" instead, and a reader finds every use of
// the value by searching for reveal(). It does not wipe memory or lock pages.
#pragma once

#include <ostream>
#include <string>
#include <utility>

namespace partyline {

class Secret {
   public:
    Secret() = default;
    explicit Secret(std::string value) : value_(std::move(value)) {}

    // The value itself, for the one place that checks or uses it (a key comparison, a signature).
    const std::string& reveal() const { return value_; }
    bool empty() const { return value_.empty(); }

    // What a message or check-config shows in place of the value.
    static constexpr const char* kShown = "<set>";

    friend bool operator==(const Secret&, const Secret&) = default;
    friend std::ostream& operator<<(std::ostream& out, const Secret&) { return out << kShown; }

   private:
    std::string value_;
};

// "<set>": the spelling to use when building a message with +.
inline std::string toString(const Secret&) {
    return Secret::kShown;
}

}  // namespace partyline
