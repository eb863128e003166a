// core/Json: parseJson's values and errors, its bounds, and jsonQuote.
#include <doctest/doctest.h>

#include <string>

#include "core/Json.h"

using namespace partyline;

namespace {

JsonValue parsed(std::string_view text) {
    auto value = parseJson(text);
    REQUIRE_MESSAGE(value.isOk(), value.status().toString());
    return value.value();
}

std::string parseError(std::string_view text) {
    auto value = parseJson(text);
    REQUIRE(!value.isOk());
    CHECK(value.status().code() == Code::InvalidArgument);
    return value.status().message();
}

}  // namespace

TEST_CASE("parseJson: scalars") {
    CHECK(parsed("null").isNull());
    CHECK(parsed(" true ").asBool() == true);
    CHECK(parsed("false").asBool() == false);
    CHECK(parsed("-9223372036854775808").asInteger() == INT64_MIN);
    CHECK(parsed("1.5").asNumber() == 1.5);
    CHECK(!parsed("1.5").asInteger());
    CHECK(parsed("2.0").asInteger() == 2);  // integral numbers are integers
    CHECK(parsed("1e3").asInteger() == 1000);
    CHECK(parsed("9223372036854775808").asNumber() == 9223372036854775808.0);  // past int64: a double
    CHECK(parsed("1e-400").asInteger() == 0);                                  // too small: 0
    CHECK(*parsed(R"("a\"b\\c\n\u00e9\ud83d\ude00/")").asString() == "a\"b\\c\n\xC3\xA9\xF0\x9F\x98\x80/");
}

TEST_CASE("parseJson: arrays and objects, the last of a repeated key wins") {
    JsonValue v = parsed(R"({"a":[1,"two",{}],"b":{"c":null},"a":3})");
    REQUIRE(v.asObject());
    CHECK(v.asObject()->size() == 3);
    CHECK(v.find("a")->asInteger() == 3);
    CHECK(v.find("b")->find("c")->isNull());
    CHECK(v.find("missing") == nullptr);
    const JsonValue::Array* items = v.asObject()->front().value.asArray();
    REQUIRE(items);
    CHECK(items->size() == 3);
    CHECK(*(*items)[1].asString() == "two");
    CHECK(parsed("[]").asArray()->empty());
    CHECK(parsed("[1]").find("a") == nullptr);  // not an object
}

TEST_CASE("parseJson: strict RFC 8259, with the byte of the error") {
    CHECK(parseError("") == "json: unexpected end of input at byte 1");
    CHECK(parseError("[1,]") == "json: unexpected character at byte 4");
    CHECK(parseError("{\"a\":1,}") == "json: unexpected character at byte 8");
    CHECK(parseError("01") == "json: unexpected character at byte 2");
    CHECK(parseError("1 2") == "json: unexpected character at byte 3");
    CHECK(parseError("\"a") == "json: unexpected end of input at byte 3");
    CHECK(parseError("\"\\x\"") == "json: invalid escape at byte 2");
    CHECK(parseError("\"\\ud800\"") == "json: unpaired surrogate at byte 2");
    CHECK(parseError("\"\x01\"") == "json: control character in string at byte 2");
    CHECK(parseError("\"\xFF\"") == "json: invalid UTF-8 at byte 2");
    CHECK(parseError("1e999") == "json: number out of range at byte 1");
    CHECK(parseError("// x\n1") == "json: unexpected character at byte 1");
}

TEST_CASE("parseJson: nesting is bounded by kMaxJsonDepth") {
    std::string deepest = std::string(kMaxJsonDepth, '[') + std::string(kMaxJsonDepth, ']');
    CHECK(parseJson(deepest).isOk());
    std::string deeper = "[" + deepest + "]";
    CHECK(parseError(deeper) == "json: nesting deeper than 64 at byte 65");
}

TEST_CASE("parseJson: text over the size bound is refused before it is read") {
    CHECK(parseJson("[1,2,3]", 7).isOk());
    auto refused = parseJson("[1,2,3]", 6);
    REQUIRE(!refused.isOk());
    CHECK(refused.status().code() == Code::TooLarge);
}

TEST_CASE("jsonQuote escapes what JSON strings cannot hold and replaces invalid UTF-8") {
    CHECK(jsonQuote("") == "\"\"");
    CHECK(jsonQuote("plain é") == "\"plain é\"");
    CHECK(jsonQuote("a\"b\\c\b\f\n\r\t\x1f") == "\"a\\\"b\\\\c\\b\\f\\n\\r\\t\\u001f\"");
    CHECK(jsonQuote("a\xFFz") == "\"a\\ufffdz\"");
    CHECK(*parsed(jsonQuote("x\ny\"\x01")).asString() == "x\ny\"\x01");  // reads back the same
}
