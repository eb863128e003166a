// Structured one-line logs on stderr: `ts level component msg key=value ...`.
// Thread-safe; one write(2) per line so lines from threads never interleave.
#pragma once

#include <string>
#include <string_view>

namespace partyline::log {

enum class Level { Debug, Info, Warn, Error };

void setLevel(Level level);
bool enabled(Level level);
void write(Level level, std::string_view component, std::string_view message);

inline void debug(std::string_view c, std::string_view m) { write(Level::Debug, c, m); }
inline void info(std::string_view c, std::string_view m) { write(Level::Info, c, m); }
inline void warn(std::string_view c, std::string_view m) { write(Level::Warn, c, m); }
inline void error(std::string_view c, std::string_view m) { write(Level::Error, c, m); }

}  // namespace partyline::log
