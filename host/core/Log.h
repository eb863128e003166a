// Structured one-line logs on stderr, in one of two formats:
//   logfmt: ts=2026-01-02T03:04:05.678Z level=info comp=node msg="listening" addr=0.0.0.0:1999
//   json:
//   {"ts":"2026-01-02T03:04:05.678Z","level":"info","comp":"node","msg":"listening","addr":"0.0.0.0:1999"}
// Every line carries ts, level, comp (the part of the node that speaks) and msg, then the call's
// fields in order. A message never spans lines: newlines in it are escaped.
// Thread-safe; one write(2) per line so lines from threads never interleave.
#pragma once

#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

namespace partyline::log {

enum class Level { Debug, Info, Warn, Error };
enum class Format { Logfmt, Json };

struct Field {
    std::string_view key;
    std::string value;
};

void setLevel(Level level);
void setFormat(Format format);
bool enabled(Level level);
// "debug", "info", "warn", "error"; nothing for another word.
std::optional<Level> parseLevel(std::string_view name);
// "logfmt", "json"; nothing for another word.
std::optional<Format> parseFormat(std::string_view name);

void write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields = {});
// The line write() prints, without the newline, for tests.
std::string format(Format format, std::string_view timestamp, Level level, std::string_view component,
                   std::string_view message, std::initializer_list<Field> fields);

inline void debug(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Debug, c, m, f);
}
inline void info(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Info, c, m, f);
}
inline void warn(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Warn, c, m, f);
}
inline void error(std::string_view c, std::string_view m, std::initializer_list<Field> f = {}) {
    write(Level::Error, c, m, f);
}

}  // namespace partyline::log
