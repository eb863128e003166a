#include "core/Json.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>

// The reader keeps only pointers and counters, never an object with a destructor: a handler may
// leave it by longjmp (lua/Json raises Lua errors from its handler).

namespace partyline {
namespace {

size_t encodeUtf8(unsigned cp, char* out) {
    if (cp < 0x80) {
        out[0] = static_cast<char>(cp);
        return 1;
    }
    if (cp < 0x800) {
        out[0] = static_cast<char>(0xC0 | (cp >> 6));
        out[1] = static_cast<char>(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = static_cast<char>(0xE0 | (cp >> 12));
        out[1] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
        out[2] = static_cast<char>(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = static_cast<char>(0xF0 | (cp >> 18));
    out[1] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out[2] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out[3] = static_cast<char>(0x80 | (cp & 0x3F));
    return 4;
}

int hexDigit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// from_chars reports overflow and underflow alike; the decimal exponent tells them apart.
bool overflows(const char* s, const char* end) {
    if (*s == '-') ++s;
    while (s < end && *s == '0') ++s;
    long magnitude = 0;
    while (s < end && *s >= '0' && *s <= '9') ++s, ++magnitude;
    if (s < end && *s == '.') {
        ++s;
        if (magnitude == 0)
            while (s < end && *s == '0') ++s, --magnitude;
        while (s < end && *s >= '0' && *s <= '9') ++s;
    }
    long exponent = 0;
    bool negative = false;
    if (s < end && (*s == 'e' || *s == 'E')) {
        ++s;
        if (s < end && (*s == '+' || *s == '-')) negative = *s++ == '-';
        for (; s < end; ++s) exponent = std::min(exponent * 10 + (*s - '0'), 1000000L);
    }
    return magnitude + (negative ? -exponent : exponent) > 0;
}

// A double that is integral and within int64 (the range test of Lua's lua_numbertointeger).
bool integralInt64(double x, int64_t& out) {
    if (x != std::floor(x) || !(x >= -9223372036854775808.0 && x < 9223372036854775808.0)) return false;
    out = static_cast<int64_t>(x);
    return true;
}

// ----- the reader -----

struct Reader {
    JsonHandler& handler;
    const char* begin;
    const char* p;
    const char* end;
    int depth = 0;

    bool fail(const char* what) {
        if (p >= end) what = "unexpected end of input";
        handler.fail(what, size_t(p - begin));
        return false;
    }
    bool at(char c) const { return p < end && *p == c; }
    bool atDigit() const { return p < end && *p >= '0' && *p <= '9'; }
    void skipSpace() {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) ++p;
    }
    bool expect(char c) {
        skipSpace();
        if (!at(c)) return fail("unexpected character");
        ++p;
        return true;
    }

    bool value();
    bool string();
    bool escape();
    bool unicodeEscape();
    bool rawChar();
    bool number();
    bool literal(std::string_view word);
    bool enter();
    bool array();
    bool object();
};

// The value of the \uXXXX escape starting at `at` (its backslash), or -1 when there is none.
long hex4(const Reader& r, const char* at) {
    if (r.end - at < 6 || at[0] != '\\' || at[1] != 'u') return -1;
    long value = 0;
    for (int i = 2; i < 6; ++i) {
        int digit = hexDigit(at[i]);
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

// A \u escape (a surrogate pair takes two) at p, handed on as UTF-8.
bool Reader::unicodeEscape() {
    long cp = hex4(*this, p);
    if (cp < 0) return fail("invalid \\u escape");
    if (cp >= 0xDC00 && cp <= 0xDFFF) return fail("unpaired surrogate");
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        long low = hex4(*this, p + 6);
        if (low < 0xDC00 || low > 0xDFFF) return fail("unpaired surrogate");
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        p += 6;
    }
    p += 6;
    char utf8[4];
    handler.stringPart(std::string_view(utf8, encodeUtf8(static_cast<unsigned>(cp), utf8)), false);
    return true;
}

bool Reader::escape() {
    static constexpr char kFrom[] = "\"\\/bfnrt";
    static constexpr char kTo[] = "\"\\/\b\f\n\r\t";
    char c = p + 1 < end ? p[1] : '\0';
    if (c == 'u') return unicodeEscape();
    const char* known = c ? std::strchr(kFrom, c) : nullptr;
    if (!known) return fail("invalid escape");
    handler.stringPart(std::string_view(&kTo[known - kFrom], 1), false);
    p += 2;
    return true;
}

// Advances over one raw string byte or UTF-8 sequence; fails on bytes JSON strings cannot hold.
bool Reader::rawChar() {
    auto c = static_cast<unsigned char>(*p);
    if (c < 0x20) return fail("control character in string");
    size_t n = utf8SequenceLength(reinterpret_cast<const unsigned char*>(p),
                                  reinterpret_cast<const unsigned char*>(end));
    if (n == 0) return fail("invalid UTF-8");
    p += n;
    return true;
}

// A string from its opening quote at p: the runs of raw bytes between escapes, and each escape
// decoded, as parts; the common string without escapes is one part.
bool Reader::string() {
    const char* run = ++p;
    while (!at('"')) {
        if (p >= end) return fail("unexpected end of input");
        if (*p != '\\') {
            if (!rawChar()) return false;
            continue;
        }
        if (p > run) handler.stringPart(std::string_view(run, size_t(p - run)), false);
        if (!escape()) return false;
        run = p;
    }
    handler.stringPart(std::string_view(run, size_t(p - run)), true);
    ++p;
    return true;
}

// -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)?
bool Reader::number() {
    const char* start = p;
    if (at('-')) ++p;
    if (at('0')) {
        ++p;
    } else {
        if (!atDigit()) return fail("unexpected character");
        while (atDigit()) ++p;
    }
    bool integral = true;
    if (at('.')) {
        integral = false;
        ++p;
        if (!atDigit()) return fail("unexpected character");
        while (atDigit()) ++p;
    }
    if (at('e') || at('E')) {
        integral = false;
        ++p;
        if (at('+') || at('-')) ++p;
        if (!atDigit()) return fail("unexpected character");
        while (atDigit()) ++p;
    }
    int64_t i = 0;
    if (integral && std::from_chars(start, p, i).ec == std::errc()) {
        handler.integer(i);
        return true;
    }
    double x = 0;
    if (std::from_chars(start, p, x).ec != std::errc()) {
        if (overflows(start, p)) {
            p = start;
            return fail("number out of range");
        }
        x = 0;  // too small for a double
    }
    if (integralInt64(x, i)) {
        handler.integer(i);
    } else {
        handler.number(x);
    }
    return true;
}

bool Reader::literal(std::string_view word) {
    if (static_cast<size_t>(end - p) < word.size() || std::memcmp(p, word.data(), word.size()) != 0)
        return fail("unexpected character");
    p += word.size();
    if (word == "null") {
        handler.null();
    } else {
        handler.boolean(word == "true");
    }
    return true;
}

// Into an array or object, at its opening bracket.
bool Reader::enter() {
    if (depth == kMaxJsonDepth) {
        char what[40];
        std::snprintf(what, sizeof what, "nesting deeper than %d", kMaxJsonDepth);
        return fail(what);
    }
    ++depth;
    ++p;
    skipSpace();
    return true;
}

bool Reader::array() {
    if (!enter()) return false;
    handler.beginArray();
    if (at(']')) {
        ++p;
    } else {
        for (;;) {
            if (!value()) return false;
            handler.addElement();
            skipSpace();
            if (at(']')) break;
            if (!expect(',')) return false;
        }
        ++p;
    }
    --depth;
    handler.endArray();
    return true;
}

bool Reader::object() {
    if (!enter()) return false;
    handler.beginObject();
    if (at('}')) {
        ++p;
    } else {
        for (;;) {
            skipSpace();
            if (!at('"')) return fail("unexpected character");
            if (!string() || !expect(':') || !value()) return false;
            handler.addMember();
            skipSpace();
            if (at('}')) break;
            if (!expect(',')) return false;
        }
        ++p;
    }
    --depth;
    handler.endObject();
    return true;
}

bool Reader::value() {
    skipSpace();
    char c = p < end ? *p : '\0';
    switch (c) {
        case '{':
            return object();
        case '[':
            return array();
        case '"':
            return string();
        case 't':
            return literal("true");
        case 'f':
            return literal("false");
        case 'n':
            return literal("null");
        default:
            if (c == '-' || (c >= '0' && c <= '9')) return number();
            return fail("unexpected character");
    }
}

// ----- JsonValue from the reader -----

// Builds values on a stack as the reader reports them.
class Builder final : public JsonHandler {
   public:
    std::vector<JsonValue> stack;
    std::string text;  // the string being read
    Status failure;

    void null() override { stack.emplace_back(); }
    void boolean(bool value) override { stack.emplace_back(value); }
    void integer(int64_t value) override { stack.emplace_back(value); }
    void number(double value) override { stack.emplace_back(value); }
    void stringPart(std::string_view part, bool last) override {
        text.append(part);
        if (!last) return;
        stack.emplace_back(std::move(text));
        text.clear();
    }
    void beginArray() override { stack.emplace_back(JsonValue::Array()); }
    void addElement() override {
        JsonValue element = std::move(stack.back());
        stack.pop_back();
        stack.back().asArray()->push_back(std::move(element));
    }
    void endArray() override {}
    void beginObject() override { stack.emplace_back(JsonValue::Object()); }
    void addMember() override {
        JsonValue value = std::move(stack.back());
        stack.pop_back();
        std::string key = std::move(*stack.back().asString());
        stack.pop_back();
        stack.back().asObject()->push_back({std::move(key), std::move(value)});
    }
    void endObject() override {}
    void fail(const char* what, size_t offset) override {
        failure = Status(Code::InvalidArgument, std::string(what) + " at byte " + std::to_string(offset + 1));
    }
};

}  // namespace

size_t utf8SequenceLength(const unsigned char* p, const unsigned char* end) {
    unsigned c = p[0];
    if (c < 0x80) return 1;
    size_t n;
    unsigned cp, min;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        n = 3, cp = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (static_cast<size_t>(end - p) < n) return 0;
    for (size_t i = 1; i < n; ++i) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return n;
}

std::string_view jsonEscape(unsigned char c, char (&buffer)[6]) {
    static constexpr char kHex[] = "0123456789abcdef";
    switch (c) {
        case '"':
            return "\\\"";
        case '\\':
            return "\\\\";
        case '\b':
            return "\\b";
        case '\f':
            return "\\f";
        case '\n':
            return "\\n";
        case '\r':
            return "\\r";
        case '\t':
            return "\\t";
    }
    if (c >= 0x80) return "\\ufffd";  // not part of valid UTF-8
    buffer[0] = '\\', buffer[1] = 'u', buffer[2] = '0', buffer[3] = '0';
    buffer[4] = kHex[c >> 4], buffer[5] = kHex[c & 15];
    return std::string_view(buffer, 6);
}

std::string jsonQuote(std::string_view s) {
    std::string out;
    out.reserve(s.size() + 2);
    quoteJsonTo([&out](const char* p, size_t n) { out.append(p, n); }, s);
    return out;
}

bool readJson(std::string_view text, JsonHandler& handler) {
    Reader r{handler, text.data(), text.data(), text.data() + text.size()};
    if (!r.value()) return false;
    r.skipSpace();
    if (r.p != r.end) return r.fail("unexpected character");
    return true;
}

std::optional<bool> JsonValue::asBool() const {
    if (const bool* b = std::get_if<bool>(&value_)) return *b;
    return std::nullopt;
}

std::optional<int64_t> JsonValue::asInteger() const {
    if (const int64_t* i = std::get_if<int64_t>(&value_)) return *i;
    return std::nullopt;
}

std::optional<double> JsonValue::asNumber() const {
    if (const double* d = std::get_if<double>(&value_)) return *d;
    if (const int64_t* i = std::get_if<int64_t>(&value_)) return double(*i);
    return std::nullopt;
}

const JsonValue* JsonValue::find(std::string_view key) const {
    const Object* members = asObject();
    if (members == nullptr) return nullptr;
    for (auto it = members->rbegin(); it != members->rend(); ++it)
        if (it->key == key) return &it->value;
    return nullptr;
}

Result<JsonValue> parseJson(std::string_view text, size_t maxBytes) {
    if (text.size() > maxBytes)
        return Status(Code::TooLarge, "json: " + std::to_string(text.size()) + " bytes, over the limit of " +
                                          std::to_string(maxBytes));
    Builder builder;
    if (!readJson(text, builder)) return builder.failure.withContext("json");
    return std::move(builder.stack.back());
}

}  // namespace partyline
