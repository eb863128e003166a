#include "core/Log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>

namespace partyline::log {
namespace {
std::atomic<Level> gLevel{Level::Info};
std::atomic<Format> gFormat{Format::Logfmt};

const char* levelName(Level level) {
    switch (level) {
        case Level::Debug:
            return "debug";
        case Level::Info:
            return "info";
        case Level::Warn:
            return "warn";
        case Level::Error:
            return "error";
    }
    return "?";
}

// Backslash escapes shared by both formats: quotes, backslashes and control characters.
void appendEscaped(std::string& out, std::string_view text) {
    for (unsigned char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char hex[8];
                    std::snprintf(hex, sizeof hex, "\\u%04x", c);
                    out += hex;
                } else {
                    out += char(c);
                }
        }
    }
}

bool needsQuotes(std::string_view value) {
    if (value.empty()) return true;
    for (unsigned char c : value)
        if (c <= ' ' || c == '=' || c == '"' || c == '\\' || c == 0x7f) return true;
    return false;
}

void appendLogfmt(std::string& out, std::string_view key, std::string_view value) {
    if (!out.empty()) out += ' ';
    out += key;
    out += '=';
    if (!needsQuotes(value)) {
        out += value;
        return;
    }
    out += '"';
    appendEscaped(out, value);
    out += '"';
}

void appendJson(std::string& out, std::string_view key, std::string_view value) {
    out += out.size() > 1 ? ",\"" : "\"";
    appendEscaped(out, key);
    out += "\":\"";
    appendEscaped(out, value);
    out += '"';
}

std::string timestamp() {
    auto now = std::chrono::system_clock::now();
    std::time_t secs = std::chrono::system_clock::to_time_t(now);
    int millis =
        int(std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char stamp[40];
    size_t n = std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
    std::snprintf(stamp + n, sizeof stamp - n, ".%03dZ", millis);
    return stamp;
}
}  // namespace

void setLevel(Level level) {
    gLevel = level;
}
void setFormat(Format format) {
    gFormat = format;
}
bool enabled(Level level) {
    return level >= gLevel.load(std::memory_order_relaxed);
}

std::optional<Level> parseLevel(std::string_view name) {
    for (Level level : {Level::Debug, Level::Info, Level::Warn, Level::Error})
        if (name == levelName(level)) return level;
    return std::nullopt;
}

std::optional<Format> parseFormat(std::string_view name) {
    if (name == "logfmt") return Format::Logfmt;
    if (name == "json") return Format::Json;
    return std::nullopt;
}

std::string format(Format format, std::string_view ts, Level level, std::string_view component,
                   std::string_view message, std::initializer_list<Field> fields) {
    std::string line;
    line.reserve(96 + message.size());
    auto append = format == Format::Json ? appendJson : appendLogfmt;
    if (format == Format::Json) line += '{';
    append(line, "ts", ts);
    append(line, "level", levelName(level));
    append(line, "comp", component);
    append(line, "msg", message);
    for (const Field& field : fields) append(line, field.key, field.value);
    if (format == Format::Json) line += '}';
    return line;
}

void write(Level level, std::string_view component, std::string_view message,
           std::initializer_list<Field> fields) {
    if (!enabled(level)) return;
    std::string line =
        format(gFormat.load(std::memory_order_relaxed), timestamp(), level, component, message, fields);
    line += '\n';
    ssize_t ignored = ::write(STDERR_FILENO, line.data(), line.size());
    (void)ignored;
}

}  // namespace partyline::log
