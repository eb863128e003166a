#include "app/HttpHeaders.h"

#include <cctype>

namespace partyline {
namespace {

char lower(char c) {
    return char(std::tolower(static_cast<unsigned char>(c)));
}

bool equalsIgnoringCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (lower(a[i]) != lower(b[i])) return false;
    return true;
}

std::string_view trimmed(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

}  // namespace

void HttpHeaders::add(std::string_view name, std::string_view value) {
    std::string key(name);
    for (char& c : key) c = lower(c);
    auto [it, inserted] = fields_.emplace(std::move(key), value);
    if (!inserted) it->second.append(", ").append(value);
}

const std::string* HttpHeaders::find(std::string_view lowerName) const {
    auto it = fields_.find(lowerName);
    return it == fields_.end() ? nullptr : &it->second;
}

bool HttpHeaders::hasToken(std::string_view lowerName, std::string_view token) const {
    const std::string* value = find(lowerName);
    return value && listHasToken(*value, token);
}

bool HttpHeaders::listHasToken(std::string_view list, std::string_view token) {
    for (;;) {
        size_t comma = list.find(',');
        if (equalsIgnoringCase(trimmed(list.substr(0, comma)), token)) return true;
        if (comma == std::string_view::npos) return false;
        list.remove_prefix(comma + 1);
    }
}

}  // namespace partyline
