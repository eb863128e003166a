#include "lua/Pattern.h"

#include <cctype>
#include <cstddef>
#include <cstring>
#include <lua.hpp>

// The matcher follows the pattern rules of the Lua 5.4 manual (section 6.4.1) so scripts behave
// as with Lua's own string library; the differences are the step accounting and that work past the
// budget raises the budget error. Errors raised here longjmp through the matcher: it holds no C++
// object with a destructor.

namespace partyline::lua {
namespace {

// Lua's own LUA_MAXCAPTURES (private to lstrlib.c), so a pattern that works in plain Lua works here.
constexpr int kMaxCaptures = 32;
// Nested pattern items recurse in C; Lua's own limit, which keeps the C stack small.
constexpr int kMaxMatchDepth = 200;
// Steps between reports to the budget: a virtual call per step would cost more than the step.
constexpr uint64_t kStepsPerCharge = 1000;
// A memcmp of this many bytes costs about one matcher step.
constexpr size_t kBytesPerStep = 32;

constexpr ptrdiff_t kUnfinished = -1;  // capture opened and not yet closed
constexpr ptrdiff_t kPosition = -2;    // "()" captures a position, not a substring

struct Capture {
    const char* init;
    ptrdiff_t len;
};

struct Matcher {
    lua_State* L;
    SandboxHost* host;
    const char* what;  // "string.find", ... for the budget error
    const char* src;
    const char* srcEnd;
    const char* pat;  // after a leading '^', which the callers handle
    const char* patEnd;
    int depth = kMaxMatchDepth;
    int level = 0;  // captures in use
    uint64_t steps = 0;
    Capture capture[kMaxCaptures] = {};
};

int uchar(char c) {
    return static_cast<unsigned char>(c);
}

void step(Matcher& m, uint64_t n = 1) {
    m.steps += n;
    if (m.steps < kStepsPerCharge) return;
    uint64_t charged = m.steps;
    m.steps = 0;
    m.host->chargeWork(m.L, charged, m.what);
}

// Reports the steps not yet charged; called when a call is done with its matcher.
void settle(Matcher& m) {
    if (m.steps > 0) m.host->chargeWork(m.L, m.steps, m.what);
    m.steps = 0;
}

// Before each attempt at a new subject position.
void restart(Matcher& m) {
    m.level = 0;
    m.depth = kMaxMatchDepth;
    step(m);
}

// ----- single-character classes -----

bool matchClass(int c, int cl) {
    bool hit;
    switch (std::tolower(cl)) {
        case 'a':
            hit = std::isalpha(c);
            break;
        case 'c':
            hit = std::iscntrl(c);
            break;
        case 'd':
            hit = std::isdigit(c);
            break;
        case 'g':
            hit = std::isgraph(c);
            break;
        case 'l':
            hit = std::islower(c);
            break;
        case 'p':
            hit = std::ispunct(c);
            break;
        case 's':
            hit = std::isspace(c);
            break;
        case 'u':
            hit = std::isupper(c);
            break;
        case 'w':
            hit = std::isalnum(c);
            break;
        case 'x':
            hit = std::isxdigit(c);
            break;
        case 'z':
            hit = c == 0;
            break;  // deprecated since Lua 5.2, still accepted by 5.4
        default:
            return cl == c;  // %. for any non-alphanumeric '.' is the character itself
    }
    return std::isupper(cl) ? !hit : hit;
}

// `p` is at '[' and `close` at the set's closing ']'.
bool matchSet(int c, const char* p, const char* close) {
    bool inside = true;
    ++p;
    if (*p == '^') {
        inside = false;
        ++p;
    }
    for (; p < close; ++p) {
        if (*p == '%') {
            ++p;
            if (matchClass(c, uchar(*p))) return inside;
        } else if (p[1] == '-' && p + 2 < close) {
            if (uchar(p[0]) <= c && c <= uchar(p[2])) return inside;
            p += 2;
        } else if (uchar(*p) == c) {
            return inside;
        }
    }
    return !inside;
}

// The end of the single-character class that starts at `p`.
const char* classEnd(Matcher& m, const char* p) {
    char c = *p++;
    if (c == '%') {
        if (p >= m.patEnd) luaL_error(m.L, "malformed pattern (ends with '%%')");
        return p + 1;
    }
    if (c != '[') return p;
    if (p < m.patEnd && *p == '^') ++p;
    do {  // the first character of a set is never its end, so "[]]" is the set of ']'
        if (p >= m.patEnd) luaL_error(m.L, "malformed pattern (missing ']')");
        if (*p++ == '%' && p < m.patEnd) ++p;
    } while (p >= m.patEnd || *p != ']');
    return p + 1;
}

bool singleMatch(const Matcher& m, const char* s, const char* p, const char* ep) {
    if (s >= m.srcEnd) return false;
    int c = uchar(*s);
    switch (*p) {
        case '.':
            return true;
        case '%':
            return matchClass(c, uchar(p[1]));
        case '[':
            return matchSet(c, p, ep - 1);
        default:
            return uchar(*p) == c;
    }
}

// ----- the matcher -----

const char* match(Matcher& m, const char* s, const char* p);

const char* maxExpand(Matcher& m, const char* s, const char* p, const char* ep) {
    ptrdiff_t n = 0;
    while (singleMatch(m, s + n, p, ep)) {
        step(m);
        ++n;
    }
    for (; n >= 0; --n) {  // the longest run first, then shorter ones
        if (const char* end = match(m, s + n, ep + 1)) return end;
    }
    return nullptr;
}

const char* minExpand(Matcher& m, const char* s, const char* p, const char* ep) {
    for (;; ++s) {
        if (const char* end = match(m, s, ep + 1)) return end;
        if (!singleMatch(m, s, p, ep)) return nullptr;
    }
}

const char* startCapture(Matcher& m, const char* s, const char* p, ptrdiff_t kind) {
    if (m.level >= kMaxCaptures) luaL_error(m.L, "too many captures");
    m.capture[m.level] = {s, kind};
    ++m.level;
    const char* end = match(m, s, p);
    if (!end) --m.level;
    return end;
}

const char* endCapture(Matcher& m, const char* s, const char* p) {
    int open = m.level - 1;
    while (open >= 0 && m.capture[open].len != kUnfinished) --open;
    if (open < 0) luaL_error(m.L, "invalid pattern capture");
    m.capture[open].len = s - m.capture[open].init;
    const char* end = match(m, s, p);
    if (!end) m.capture[open].len = kUnfinished;
    return end;
}

// %bxy: `p` is at x.
const char* matchBalance(Matcher& m, const char* s, const char* p) {
    if (p + 1 >= m.patEnd) luaL_error(m.L, "malformed pattern (missing arguments to '%%b')");
    if (s >= m.srcEnd || *s != p[0]) return nullptr;
    int open = 1;
    for (const char* t = s + 1; t < m.srcEnd; ++t) {
        step(m);
        if (*t == p[1]) {
            if (--open == 0) return t + 1;
        } else if (*t == p[0]) {
            ++open;
        }
    }
    return nullptr;
}

// %f[set]: `p` is after "%f"; returns the pattern after the set, or nullptr.
const char* matchFrontier(Matcher& m, const char* s, const char* p) {
    if (p >= m.patEnd || *p != '[') luaL_error(m.L, "missing '[' after '%%f' in pattern");
    const char* ep = classEnd(m, p);
    int previous = s == m.src ? '\0' : uchar(s[-1]);
    int current = s < m.srcEnd ? uchar(*s) : '\0';
    if (!matchSet(previous, p, ep - 1) && matchSet(current, p, ep - 1)) return ep;
    return nullptr;
}

// %1-%9: the text of an earlier capture again.
const char* matchBackReference(Matcher& m, const char* s, int digit) {
    int index = digit - '1';
    if (index < 0 || index >= m.level || m.capture[index].len == kUnfinished)
        luaL_error(m.L, "invalid capture index %%%d", index + 1);
    ptrdiff_t len = m.capture[index].len;
    if (len == kPosition) return nullptr;
    step(m, 1 + static_cast<size_t>(len) / kBytesPerStep);
    if (m.srcEnd - s >= len && std::memcmp(m.capture[index].init, s, len) == 0) return s + len;
    return nullptr;
}

// One pattern item that is a single-character class, maybe with a quantifier.
const char* matchItem(Matcher& m, const char* s, const char* p, const char*& next) {
    const char* ep = classEnd(m, p);
    bool hit = singleMatch(m, s, p, ep);
    char quantifier = ep < m.patEnd ? *ep : '\0';
    next = nullptr;
    switch (quantifier) {
        case '?':
            if (hit) {
                if (const char* end = match(m, s + 1, ep + 1)) return end;
            }
            next = ep + 1;
            return s;
        case '+':
            return hit ? maxExpand(m, s + 1, p, ep) : nullptr;
        case '*':
            return maxExpand(m, s, p, ep);
        case '-':
            return minExpand(m, s, p, ep);
        default:
            if (!hit) return nullptr;
            next = ep;
            return s + 1;
    }
}

// Matches the pattern from `p` against the subject from `s`: the end of the match, or nullptr.
const char* matchHere(Matcher& m, const char* s, const char* p) {
    while (p < m.patEnd) {
        step(m);
        switch (*p) {
            case '(':
                if (p + 1 < m.patEnd && p[1] == ')') return startCapture(m, s, p + 2, kPosition);
                return startCapture(m, s, p + 1, kUnfinished);
            case ')':
                return endCapture(m, s, p + 1);
            case '$':
                if (p + 1 == m.patEnd) return s == m.srcEnd ? s : nullptr;
                break;
            case '%':
                if (p + 1 >= m.patEnd) break;  // classEnd reports it
                if (p[1] == 'b') {
                    s = matchBalance(m, s, p + 2);
                    if (!s) return nullptr;
                    p += 4;
                    continue;
                }
                if (p[1] == 'f') {
                    p = matchFrontier(m, s, p + 2);
                    if (!p) return nullptr;
                    continue;
                }
                if (std::isdigit(uchar(p[1]))) {
                    s = matchBackReference(m, s, uchar(p[1]));
                    if (!s) return nullptr;
                    p += 2;
                    continue;
                }
                break;
        }
        const char* next;
        s = matchItem(m, s, p, next);
        if (!s || !next) return s;
        p = next;
    }
    return s;
}

const char* match(Matcher& m, const char* s, const char* p) {
    if (m.depth == 0) luaL_error(m.L, "pattern too complex");
    --m.depth;
    const char* end = matchHere(m, s, p);
    ++m.depth;
    return end;
}

// ----- captures -----

void pushCapture(Matcher& m, int i, const char* s, const char* e) {
    if (i >= m.level) {
        if (i != 0) luaL_error(m.L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m.L, s, e - s);  // no captures: the whole match
        return;
    }
    const Capture& c = m.capture[i];
    if (c.len == kUnfinished) luaL_error(m.L, "unfinished capture");
    if (c.len == kPosition) {
        lua_pushinteger(m.L, c.init - m.src + 1);
    } else {
        lua_pushlstring(m.L, c.init, c.len);
    }
}

// Pushes the captures, or the whole match when there are none and `s` is given.
int pushCaptures(Matcher& m, const char* s, const char* e) {
    int n = (m.level == 0 && s) ? 1 : m.level;
    luaL_checkstack(m.L, n, "too many captures");
    for (int i = 0; i < n; ++i) pushCapture(m, i, s, e);
    return n;
}

// ----- the library functions -----

// Lua's rule for string positions: negative counts from the end; out of range clamps to 1.
size_t startIndex(lua_Integer pos, size_t len) {
    if (pos > 0) return static_cast<size_t>(pos);
    if (pos == 0 || pos < -static_cast<lua_Integer>(len)) return 1;
    return len + static_cast<size_t>(pos) + 1;
}

bool hasSpecials(const char* p, size_t n) {
    static constexpr char kSpecials[] = "^$*+?.([%-";
    for (size_t i = 0; i < n; ++i)
        if (std::memchr(kSpecials, p[i], sizeof kSpecials - 1)) return true;
    return false;
}

Matcher newMatcher(lua_State* L, const char* what, const char* s, size_t ls, const char* p, size_t lp) {
    auto* host = static_cast<SandboxHost*>(lua_touserdata(L, lua_upvalueindex(1)));
    return Matcher{L, host, what, s, s + ls, p, p + lp};
}

// A plain substring search whose comparisons are charged.
const char* findPlain(Matcher& m, const char* from, const char* p, size_t lp) {
    if (lp == 0) return from;
    if (lp > static_cast<size_t>(m.srcEnd - from)) return nullptr;
    const char* last = m.srcEnd - lp;
    for (const char* q = from; q <= last; ++q) {
        q = static_cast<const char*>(std::memchr(q, p[0], last - q + 1));
        if (!q) return nullptr;
        step(m, 1 + lp / kBytesPerStep);
        if (std::memcmp(q + 1, p + 1, lp - 1) == 0) return q;
    }
    return nullptr;
}

int findOrMatch(lua_State* L, bool find) {
    size_t ls, lp;
    const char* s = luaL_checklstring(L, 1, &ls);
    const char* p = luaL_checklstring(L, 2, &lp);
    size_t init = startIndex(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) {
        luaL_pushfail(L);
        return 1;
    }
    Matcher m = newMatcher(L, find ? "string.find" : "string.match", s, ls, p, lp);
    if (find && (lua_toboolean(L, 4) || !hasSpecials(p, lp))) {
        const char* at = findPlain(m, s + init, p, lp);
        settle(m);
        if (!at) {
            luaL_pushfail(L);
            return 1;
        }
        lua_pushinteger(L, at - s + 1);
        lua_pushinteger(L, at - s + lp);
        return 2;
    }
    bool anchor = lp > 0 && *p == '^';
    if (anchor) ++m.pat;
    const char* start = s + init;
    do {
        restart(m);
        if (const char* end = match(m, start, m.pat)) {
            settle(m);
            if (!find) return pushCaptures(m, start, end);
            lua_pushinteger(L, start - s + 1);
            lua_pushinteger(L, end - s);
            return pushCaptures(m, nullptr, nullptr) + 2;
        }
    } while (start++ < m.srcEnd && !anchor);
    settle(m);
    luaL_pushfail(L);
    return 1;
}

int find(lua_State* L) {
    return findOrMatch(L, true);
}
int matchFn(lua_State* L) {
    return findOrMatch(L, false);
}

// The gmatch iterator. Upvalues: host, subject, pattern, next start offset, end offset of the
// last match (-1 for none; an empty match right there is skipped, as in Lua 5.4).
int gmatchNext(lua_State* L) {
    size_t ls, lp;
    const char* s = lua_tolstring(L, lua_upvalueindex(2), &ls);
    const char* p = lua_tolstring(L, lua_upvalueindex(3), &lp);
    lua_Integer from = lua_tointeger(L, lua_upvalueindex(4));
    lua_Integer lastEnd = lua_tointeger(L, lua_upvalueindex(5));
    Matcher m = newMatcher(L, "string.gmatch", s, ls, p, lp);
    for (lua_Integer i = from; i <= static_cast<lua_Integer>(ls); ++i) {
        restart(m);
        const char* end = match(m, s + i, m.pat);
        if (end && end - s != lastEnd) {
            settle(m);
            lua_pushinteger(L, end - s);
            lua_copy(L, -1, lua_upvalueindex(4));
            lua_replace(L, lua_upvalueindex(5));
            return pushCaptures(m, s + i, end);
        }
    }
    settle(m);
    return 0;
}

int gmatch(lua_State* L) {
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = startIndex(luaL_optinteger(L, 3, 1), ls) - 1;
    if (init > ls) init = ls + 1;  // past the end: no match at all
    lua_settop(L, 2);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_pushinteger(L, static_cast<lua_Integer>(init));
    lua_pushinteger(L, -1);
    lua_pushcclosure(L, gmatchNext, 5);
    return 1;
}

// A replacement string: %0 is the whole match, %1-%9 captures, %% a percent sign.
void addReplacementString(Matcher& m, luaL_Buffer* b, const char* s, const char* e) {
    lua_State* L = m.L;
    size_t len;
    const char* r = lua_tolstring(L, 3, &len);
    const char* end = r + len;
    while (const char* pct = static_cast<const char*>(std::memchr(r, '%', end - r))) {
        luaL_addlstring(b, r, pct - r);
        char c = pct + 1 < end ? pct[1] : '\0';
        if (c == '%') {
            luaL_addchar(b, '%');
        } else if (c == '0') {
            luaL_addlstring(b, s, e - s);
        } else if (std::isdigit(uchar(c))) {
            pushCapture(m, c - '1', s, e);
            luaL_tolstring(L, -1, nullptr);
            lua_remove(L, -2);
            luaL_addvalue(b);
        } else {
            luaL_error(L, "invalid use of '%c' in replacement string", '%');
        }
        r = pct + 2;
    }
    luaL_addlstring(b, r, end - r);
}

// Adds the replacement of the match s..e; false when the match is kept as it was.
bool addReplacement(Matcher& m, luaL_Buffer* b, const char* s, const char* e, int replType) {
    lua_State* L = m.L;
    if (replType == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        int n = pushCaptures(m, s, e);
        lua_call(L, n, 1);
    } else if (replType == LUA_TTABLE) {
        pushCapture(m, 0, s, e);
        lua_gettable(L, 3);
    } else {
        addReplacementString(m, b, s, e);
        return true;
    }
    if (!lua_toboolean(L, -1)) {  // nil or false: keep the original text
        lua_pop(L, 1);
        luaL_addlstring(b, s, e - s);
        return false;
    }
    if (!lua_isstring(L, -1)) luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return true;
}

int gsub(lua_State* L) {
    size_t ls, lp;
    const char* s = luaL_checklstring(L, 1, &ls);
    const char* p = luaL_checklstring(L, 2, &lp);
    int replType = lua_type(L, 3);
    lua_Integer maxReplacements = luaL_optinteger(L, 4, static_cast<lua_Integer>(ls) + 1);
    luaL_argexpected(L,
                     replType == LUA_TNUMBER || replType == LUA_TSTRING || replType == LUA_TFUNCTION ||
                         replType == LUA_TTABLE,
                     3, "string/function/table");
    Matcher m = newMatcher(L, "string.gsub", s, ls, p, lp);
    bool anchor = lp > 0 && *p == '^';
    if (anchor) ++m.pat;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    const char* src = s;
    const char* lastEnd = nullptr;
    lua_Integer count = 0;
    bool changed = false;
    while (count < maxReplacements) {
        restart(m);
        const char* end = match(m, src, m.pat);
        if (end && end != lastEnd) {
            ++count;
            changed = addReplacement(m, &b, src, end, replType) || changed;
            src = lastEnd = end;
        } else if (src < m.srcEnd) {
            luaL_addchar(&b, *src++);
        } else {
            break;
        }
        if (anchor) break;
    }
    settle(m);
    if (changed) {
        luaL_addlstring(&b, src, m.srcEnd - src);
        luaL_pushresult(&b);
    } else {
        lua_pushvalue(L, 1);
    }
    lua_pushinteger(L, count);
    return 2;
}

}  // namespace

void setPatternFunctions(lua_State* L, int stringTable, SandboxHost& host) {
    stringTable = lua_absindex(L, stringTable);
    const luaL_Reg functions[] = {{"find", find}, {"match", matchFn}, {"gmatch", gmatch}, {"gsub", gsub}};
    for (const luaL_Reg& f : functions) {
        lua_pushlightuserdata(L, &host);
        lua_pushcclosure(L, f.func, 1);
        lua_setfield(L, stringTable, f.name);
    }
}

}  // namespace partyline::lua
