// Log lines: one line each, in logfmt or JSON, with ts, level, comp, msg and the call's fields.
#include <doctest/doctest.h>

#include "core/Log.h"

using namespace partyline;

namespace {
constexpr const char* kTs = "2026-01-02T03:04:05.678Z";
}

TEST_CASE("logfmt: bare values stay bare, others are quoted and escaped") {
    std::string line =
        log::format(log::Format::Logfmt, kTs, log::Level::Warn, "http", "cannot bind",
                    {{"addr", "127.0.0.1:1999"}, {"why", "Address already in use"}, {"empty", ""}});
    CHECK(line ==
          "ts=2026-01-02T03:04:05.678Z level=warn comp=http msg=\"cannot bind\" addr=127.0.0.1:1999 "
          "why=\"Address already in use\" empty=\"\"");
}

TEST_CASE("logfmt: a message never spans lines, and quotes and = cannot forge a field") {
    std::string line =
        log::format(log::Format::Logfmt, kTs, log::Level::Error, "lua", "line1\nline2 \"x\" a=b\\", {});
    CHECK(line.find('\n') == std::string::npos);
    CHECK(line == "ts=2026-01-02T03:04:05.678Z level=error comp=lua msg=\"line1\\nline2 \\\"x\\\" a=b\\\\\"");
}

TEST_CASE("json: one object per line with the same keys") {
    std::string line = log::format(log::Format::Json, kTs, log::Level::Info, "node", "draining \"now\"\n",
                                   {{"clients", "3"}});
    CHECK(line ==
          "{\"ts\":\"2026-01-02T03:04:05.678Z\",\"level\":\"info\",\"comp\":\"node\",\"msg\":\"draining "
          "\\\"now\\\"\\n\",\"clients\":\"3\"}");
}

TEST_CASE("json: control characters are escaped as \\u00XX") {
    std::string line = log::format(log::Format::Json, kTs, log::Level::Info, "x", std::string("a\x01z"), {});
    CHECK(line.find("a\\u0001z") != std::string::npos);
}

TEST_CASE("levels and formats parse from their names only") {
    CHECK(log::parseLevel("debug") == log::Level::Debug);
    CHECK(log::parseLevel("error") == log::Level::Error);
    CHECK_FALSE(log::parseLevel("verbose"));
    CHECK(log::parseFormat("json") == log::Format::Json);
    CHECK(log::parseFormat("logfmt") == log::Format::Logfmt);
    CHECK_FALSE(log::parseFormat("text"));
}
