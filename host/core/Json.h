// JSON for the host's C++ code: a strict reader (readJson) that reports what it reads to a
// handler, a small value type with its decoder (parseJson), and string quoting (jsonQuote).
//
// Parsing is strict RFC 8259: UTF-8 only, no comments, no trailing commas, no lone surrogates;
// nesting is bounded by kMaxJsonDepth, and parseJson bounds the text's size too. Numbers are
// integers when integral and within int64, doubles otherwise; in an object with a repeated key
// the last one wins. The reader allocates nothing and keeps no object with a destructor alive,
// so a handler may leave it by longjmp (Lua's json.decode raises Lua errors from inside it).
//
// It must not know about Lua (lua/Json builds on it), and it does not encode values: callers
// write their JSON text themselves and quote strings with jsonQuote.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/Status.h"

namespace partyline {

// Deeper nesting is an attack, not data; it also bounds the C recursion of readers and writers.
inline constexpr int kMaxJsonDepth = 64;
// parseJson's default bound: the host reads server answers of a few hundred bytes.
inline constexpr size_t kMaxJsonBytes = 1 << 20;

// What readJson found, as a stack machine: each scalar or string is pushed, an array or object
// is opened, each element or member joins the innermost open one, and it is closed.
class JsonHandler {
   public:
    virtual void null() = 0;
    virtual void boolean(bool value) = 0;
    virtual void integer(int64_t value) = 0;
    virtual void number(double value) = 0;
    // A string or an object key, in parts (more than one when it holds escapes); `last` is set
    // on the final part, which may be empty.
    virtual void stringPart(std::string_view part, bool last) = 0;
    virtual void beginArray() = 0;
    virtual void addElement() = 0;  // the value pushed last joins the open array
    virtual void endArray() = 0;
    virtual void beginObject() = 0;
    virtual void addMember() = 0;  // the key and then the value pushed last join the open object
    virtual void endObject() = 0;
    // The text is not JSON: `what` went wrong at byte `offset` (counting from 0). The reader
    // calls nothing after it.
    virtual void fail(const char* what, size_t offset) = 0;

   protected:
    ~JsonHandler() = default;
};

// Reads `text` as exactly one JSON value (surrounding whitespace allowed). False after a
// handler.fail.
bool readJson(std::string_view text, JsonHandler& handler);

struct JsonMember;

// A decoded JSON value.
class JsonValue {
   public:
    using Array = std::vector<JsonValue>;
    using Object = std::vector<JsonMember>;  // in text order, repeated keys kept

    JsonValue() = default;  // null
    // Defined below JsonMember, which they need complete.
    explicit JsonValue(bool value);
    explicit JsonValue(int64_t value);
    explicit JsonValue(double value);
    explicit JsonValue(std::string value);
    explicit JsonValue(Array value);
    explicit JsonValue(Object value);

    bool isNull() const { return std::holds_alternative<std::monostate>(value_); }
    std::optional<bool> asBool() const;
    std::optional<int64_t> asInteger() const;
    // Integers too, as doubles.
    std::optional<double> asNumber() const;
    const std::string* asString() const { return std::get_if<std::string>(&value_); }
    const Array* asArray() const { return std::get_if<Array>(&value_); }
    const Object* asObject() const { return std::get_if<Object>(&value_); }
    std::string* asString() { return std::get_if<std::string>(&value_); }
    Array* asArray() { return std::get_if<Array>(&value_); }
    Object* asObject() { return std::get_if<Object>(&value_); }

    // The member `key` of an object (the last, when repeated); nullptr when there is none or
    // this is not an object.
    const JsonValue* find(std::string_view key) const;

   private:
    std::variant<std::monostate, bool, int64_t, double, std::string, Array, Object> value_;
};

struct JsonMember {
    std::string key;
    JsonValue value;
};

inline JsonValue::JsonValue(bool value) : value_(value) {}
inline JsonValue::JsonValue(int64_t value) : value_(value) {}
inline JsonValue::JsonValue(double value) : value_(value) {}
inline JsonValue::JsonValue(std::string value) : value_(std::move(value)) {}
inline JsonValue::JsonValue(Array value) : value_(std::move(value)) {}
inline JsonValue::JsonValue(Object value) : value_(std::move(value)) {}

// Decodes `text`. InvalidArgument with "<what> at byte N" (N from 1) for text that is not JSON,
// TooLarge for text over maxBytes.
Result<JsonValue> parseJson(std::string_view text, size_t maxBytes = kMaxJsonBytes);

// Writes `s` as a JSON string literal, quotes included, through out(const char*, size_t).
// Control characters, '"' and '\' are escaped; bytes that are not part of valid UTF-8 are each
// replaced by U+FFFD, written \ufffd, so the output is always valid JSON.
template <class Out>
void quoteJsonTo(Out&& out, std::string_view s);

// `s` as a JSON string literal (quoteJsonTo into a string).
std::string jsonQuote(std::string_view s);

// Length of the valid UTF-8 sequence at p (1-4), or 0 when the bytes there are not valid UTF-8:
// overlong forms, surrogates and code points past U+10FFFF are invalid (RFC 3629).
size_t utf8SequenceLength(const unsigned char* p, const unsigned char* end);

// The escape of a byte that cannot appear raw in a JSON string, written into `buffer`.
std::string_view jsonEscape(unsigned char c, char (&buffer)[6]);

template <class Out>
void quoteJsonTo(Out&& out, std::string_view s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const auto* end = p + s.size();
    const auto* run = p;  // start of the bytes copied as they are
    out("\"", 1);
    while (p < end) {
        size_t len = (*p >= 0x20 && *p != '"' && *p != '\\') ? utf8SequenceLength(p, end) : 0;
        if (len > 0) {
            p += len;
            continue;
        }
        out(reinterpret_cast<const char*>(run), size_t(p - run));
        char buffer[6];
        std::string_view escape = jsonEscape(*p, buffer);
        out(escape.data(), escape.size());
        run = ++p;
    }
    out(reinterpret_cast<const char*>(run), size_t(p - run));
    out("\"", 1);
}

}  // namespace partyline
