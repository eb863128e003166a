#include "lua/ChunkScan.h"

#include <cstdint>
#include <cstring>
#include <lua.hpp>
#include <optional>

namespace partyline::lua {
namespace {

// Lua 5.4's opcodes this scan reads (lopcodes.h, "ORDER OP"; stable across 5.4 releases).
constexpr int kOpMove = 0;
constexpr int kOpGetUpval = 9;
constexpr int kOpGetTabUp = 11;
constexpr int kOpSetTabUp = 15;
constexpr int kOpSelf = 20;

// Constant tags (lobject.h: a type and its variant bits).
constexpr uint8_t kNil = 0, kFalse = 1, kTrue = 17, kInt = 3, kFloat = 19, kShortString = 4, kLongString = 20;

struct Function {
    int lineDefined = 0;
    std::vector<uint32_t> code;
    std::vector<std::optional<std::string>> constants;  // the strings; nothing for other types
    std::vector<std::string> upvalueNames;
    std::vector<int8_t> lineInfo;
    std::vector<std::pair<int, int>> absLineInfo;  // pc, line
    struct Local {
        std::string name;
        int startPc, endPc;
    };
    std::vector<Local> locals;
    std::vector<Function> children;

    int lineAt(int pc) const {
        if (lineInfo.empty()) return 0;
        int basePc = -1, line = lineDefined;
        for (const auto& [absPc, absLine] : absLineInfo) {
            if (absPc > pc) break;
            basePc = absPc;
            line = absLine;
        }
        while (basePc++ < pc) line += lineInfo[size_t(basePc)];
        return line;
    }

    // The local variable in register `reg` at `pc`, or "".
    std::string localAt(int reg, int pc) const {
        int active = 0;
        for (const auto& local : locals) {
            if (local.startPc > pc) break;
            if (pc < local.endPc && active++ == reg) return local.name;
        }
        return {};
    }
};

class Reader {
   public:
    explicit Reader(std::string_view bytes) : bytes_(bytes) {}

    Status header() {
        static const char kSignature[] = "\x1bLua\x54\x00\x19\x93\r\n\x1a\n";
        if (bytes_.size() < 31 || std::memcmp(bytes_.data(), kSignature, 12) != 0)
            return Status(Code::Internal, "not a Lua 5.4 binary chunk");
        if (uint8_t(bytes_[12]) != 4 || uint8_t(bytes_[13]) != 8 || uint8_t(bytes_[14]) != 8)
            return Status(Code::Internal, "a Lua 5.4 chunk of other type sizes");
        at_ = 31;
        byte();  // the main function's upvalue count
        return ok();
    }

    bool function(Function& f, int depth = 0) {
        if (depth > 200) return fail();
        string();  // source
        f.lineDefined = int(size());
        size();                  // last line defined
        byte(), byte(), byte();  // parameters, vararg, stack size
        f.code.resize(count());
        for (auto& instruction : f.code) instruction = uint32_t(raw(4));
        f.constants.resize(count());
        for (auto& constant : f.constants) {
            switch (byte()) {
                case kNil:
                case kFalse:
                case kTrue:
                    break;
                case kInt:
                case kFloat:
                    raw(8);
                    break;
                case kShortString:
                case kLongString:
                    constant = string();
                    break;
                default:
                    return fail();
            }
        }
        size_t upvalues = count();
        for (size_t i = 0; i < upvalues && ok_; ++i) byte(), byte(), byte();
        f.children.resize(count());
        for (auto& child : f.children)
            if (!function(child, depth + 1)) return false;
        f.lineInfo.resize(count());
        for (auto& delta : f.lineInfo) delta = int8_t(byte());
        f.absLineInfo.resize(count());
        for (auto& [pc, line] : f.absLineInfo) {
            pc = int(size());
            line = int(size());
        }
        f.locals.resize(count());
        for (auto& local : f.locals) {
            local.name = string().value_or("");
            local.startPc = int(size());
            local.endPc = int(size());
        }
        f.upvalueNames.resize(count());
        for (auto& name : f.upvalueNames) name = string().value_or("");
        return ok_;
    }

    Status ok() const { return ok_ ? Status::ok() : Status(Code::Internal, "a truncated Lua chunk"); }

   private:
    bool fail() { return ok_ = false; }

    uint8_t byte() {
        if (at_ >= bytes_.size()) return fail(), 0;
        return uint8_t(bytes_[at_++]);
    }
    // Little-endian, as this machine wrote it.
    uint64_t raw(size_t n) {
        if (bytes_.size() - at_ < n) return fail(), 0;
        uint64_t value = 0;
        for (size_t i = 0; i < n; ++i) value |= uint64_t(uint8_t(bytes_[at_ + i])) << (8 * i);
        at_ += n;
        return value;
    }
    // Seven bits a byte, most significant first; the last byte has its top bit set.
    size_t size() {
        size_t value = 0;
        for (int i = 0; i < 10 && ok_; ++i) {
            uint8_t b = byte();
            value = (value << 7) | (b & 0x7f);
            if (b & 0x80) return value;
        }
        return fail(), 0;
    }
    // A number of items that follow, each at least a byte: never more than the bytes left.
    size_t count() {
        size_t n = size();
        return n > bytes_.size() - at_ ? (fail(), 0) : n;
    }
    std::optional<std::string> string() {
        size_t n = size();
        if (n == 0) return std::nullopt;
        if (bytes_.size() - at_ < n - 1) return fail(), std::nullopt;
        std::string text(bytes_.substr(at_, n - 1));  // n - 1 <= the bytes left, checked above
        at_ += n - 1;
        return text;
    }

    std::string_view bytes_;
    size_t at_ = 0;
    bool ok_ = true;
};

void scan(const Function& f, std::vector<ChunkUse>& uses) {
    auto constant = [&f](unsigned index) -> std::string {
        return index < f.constants.size() && f.constants[index] ? *f.constants[index] : std::string();
    };
    auto isEnv = [&f](unsigned upvalue) {
        return upvalue < f.upvalueNames.size() && f.upvalueNames[upvalue] == "_ENV";
    };
    // The name of what each register holds, when an upvalue or a move put it there just before.
    std::vector<std::string> loaded(256);
    for (size_t pc = 0; pc < f.code.size(); ++pc) {
        uint32_t i = f.code[pc];
        int op = int(i & 0x7f);
        unsigned a = (i >> 7) & 0xff, k = (i >> 15) & 1, b = (i >> 16) & 0xff, c = (i >> 24) & 0xff;
        int line = f.lineAt(int(pc));
        if (op == kOpGetTabUp && isEnv(b) && !constant(c).empty()) {
            uses.push_back({ChunkUse::Kind::GlobalRead, constant(c), {}, line});
        } else if (op == kOpSetTabUp && isEnv(a) && !constant(b).empty()) {
            uses.push_back({ChunkUse::Kind::GlobalWrite, constant(b), {}, line});
        } else if (op == kOpSelf && k) {
            std::string receiver = f.localAt(int(b), int(pc));
            if (receiver.empty()) receiver = loaded[b];
            uses.push_back({ChunkUse::Kind::MethodCall, constant(c), receiver, line});
        }
        if (op == kOpGetUpval)
            loaded[a] = b < f.upvalueNames.size() ? f.upvalueNames[b] : std::string();
        else if (op == kOpMove)
            loaded[a] = f.localAt(int(b), int(pc));
        else
            loaded[a].clear();
    }
    for (const auto& child : f.children) scan(child, uses);
}

int collect(lua_State*, const void* data, size_t size, void* out) {
    static_cast<std::string*>(out)->append(static_cast<const char*>(data), size);
    return 0;
}

}  // namespace

Result<std::vector<ChunkUse>> scanChunk(lua_State* L, std::string_view source, const std::string& path) {
    const int top = lua_gettop(L);
    std::string name = "@" + path;
    if (luaL_loadbufferx(L, source.data(), source.size(), name.c_str(), "t") != LUA_OK) {
        std::string why = lua_tostring(L, -1) ? lua_tostring(L, -1) : "cannot compile";
        lua_settop(L, top);
        return Status(Code::InvalidArgument, why);
    }
    std::string bytes;
    int rc = lua_dump(L, collect, &bytes, 0);
    lua_settop(L, top);
    if (rc != 0) return Status(Code::Internal, "cannot dump the compiled chunk");
    Reader reader(bytes);
    if (Status s = reader.header(); !s) return s;
    Function main;
    reader.function(main);
    if (Status s = reader.ok(); !s) return s;
    std::vector<ChunkUse> uses;
    scan(main, uses);
    return uses;
}

}  // namespace partyline::lua
