// Status and Result<T>: the one error vocabulary of partyline.
//
// Every fallible call returns a Status or a Result<T>. Library errors
// (natsStatus, Lua errors, YAML exceptions) are converted at the edge of the
// unit that calls the library and never travel further in their own type.
// Exceptions never cross a CivetWeb, nats.c or Lua callback.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace partyline {

enum class Code {
    Ok,
    InvalidArgument,    // the caller's input is wrong: 400, a config error
    NotFound,           // no such party, key or message: 404
    Conflict,           // an expected sequence or revision did not match: 409
    Unavailable,        // NATS or JetStream cannot be reached now: 503
    Timeout,            // no answer in time: 503/504
    TooLarge,           // over a configured size limit: 413, close 1009
    ResourceExhausted,  // a budget or a capacity is spent: 503, close 1013
    RateLimited,        // one client asked too often: 429 with Retry-After
    Internal,           // a bug or an unexpected library answer: 500
};

const char* codeName(Code code);

class Status {
   public:
    Status() = default;
    Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

    static Status ok() { return {}; }

    bool isOk() const { return code_ == Code::Ok; }
    explicit operator bool() const { return isOk(); }
    Code code() const { return code_; }
    const std::string& message() const { return message_; }

    // Adds where the error passed through, outermost first: "publish: nats: timeout".
    Status& context(std::string_view where) {
        if (!isOk()) message_ = std::string(where) + ": " + message_;
        return *this;
    }
    Status withContext(std::string_view where) const {
        Status s = *this;
        s.context(where);
        return s;
    }
    std::string toString() const { return std::string(codeName(code_)) + ": " + message_; }

   private:
    Code code_ = Code::Ok;
    std::string message_;
};

template <class T>
class Result {
   public:
    Result(T value) : value_(std::move(value)) {}
    Result(Status status) : status_(std::move(status)) { assert(!status_.isOk()); }

    bool isOk() const { return status_.isOk(); }
    explicit operator bool() const { return isOk(); }
    const Status& status() const { return status_; }

    T& value() & {
        assert(isOk());
        return *value_;
    }
    const T& value() const& {
        assert(isOk());
        return *value_;
    }
    T&& value() && {
        assert(isOk());
        return std::move(*value_);
    }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

    Result& context(std::string_view where) {
        status_.context(where);
        return *this;
    }

   private:
    std::optional<T> value_;
    Status status_;
};

}  // namespace partyline
