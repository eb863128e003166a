#include "core/Log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace partyline::log {
namespace {
std::atomic<Level> gLevel{Level::Info};

const char* levelName(Level level) {
    switch (level) {
        case Level::Debug: return "debug";
        case Level::Info: return "info";
        case Level::Warn: return "warn";
        case Level::Error: return "error";
    }
    return "?";
}
}  // namespace

void setLevel(Level level) { gLevel = level; }
bool enabled(Level level) { return level >= gLevel.load(std::memory_order_relaxed); }

void write(Level level, std::string_view component, std::string_view message) {
    if (!enabled(level)) return;
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    int millis = int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[40];
    std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::string line;
    line.reserve(64 + message.size());
    line += stamp;
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", millis);
    line += ms;
    line += ' ';
    line += levelName(level);
    line += ' ';
    line += component;
    line += ' ';
    for (char c : message) line += (c == '\n' ? ' ' : c);
    line += '\n';
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

}  // namespace partyline::log
