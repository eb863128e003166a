#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "app/StaticFiles.h"

using namespace partyline;
namespace fs = std::filesystem;
using Kind = StaticFiles::Resolved::Kind;

namespace {

// A scratch tree: <dir>/site/public (mounted) beside <dir>/secret.txt (outside it).
struct Tree {
    fs::path dir;
    Tree() {
        char pattern[] = "/tmp/partyline-static-XXXXXX";
        dir = mkdtemp(pattern);
        fs::create_directories(dir / "site" / "public" / "sub");
        write("site/public/index.html", "<h1>home</h1>");
        write("site/public/app.js", "console.log(1)");
        write("site/public/sub/index.html", "sub");
        write("site/public/.env", "SECRET=1");
        write("site/public/room.lua", "return {}");
        write("site/public/partyline.yaml", "listen: :1");
        write("site/public/page.shtml", "<!--#exec cmd=\"id\" -->");
        write("site/room.lua", "return {}");
        write("secret.txt", "outside");
        fs::create_symlink(dir / "secret.txt", dir / "site/public/escape.html");
        fs::create_symlink(dir / "site/public/app.js", dir / "site/public/alias.js");
        fs::create_symlink(dir / "site/public/room.lua", dir / "site/public/innocent.html");
        fs::create_directories(dir / "site/public/.git");
        write("site/public/.git/config", "[core]");
    }
    ~Tree() { fs::remove_all(dir); }
    void write(const std::string& rel, const std::string& text) const { std::ofstream(dir / rel) << text; }
    std::string real(const std::string& rel) const { return fs::canonical(dir / rel).string(); }
};

}  // namespace

TEST_CASE("files under a mount are found; a folder gives its index.html, or a redirect to its slash") {
    Tree tree;
    StaticFiles files;
    REQUIRE(files.mount("/site/", (tree.dir / "site" / "public").string()));
    CHECK(files.resolve("/site/app.js").kind == Kind::File);
    CHECK(files.resolve("/site/app.js").path == tree.real("site/public/app.js"));
    CHECK(files.resolve("/site/").path == tree.real("site/public/index.html"));
    CHECK(files.resolve("/site/sub/").path == tree.real("site/public/sub/index.html"));
    auto noSlash = files.resolve("/site/sub");
    CHECK(noSlash.kind == Kind::Redirect);
    CHECK(noSlash.path == "/site/sub/");
    CHECK(files.resolve("/site").kind == Kind::Redirect);
    CHECK(files.resolve("/site/missing.js").kind == Kind::NotFound);
    CHECK(files.resolve("/other/app.js").kind == Kind::NotFound);
    CHECK(files.resolve("app.js").kind == Kind::NotFound);
    CHECK_FALSE(files.hasRoot());
}

TEST_CASE("dotfiles, scripts, configurations and traversal are never served") {
    Tree tree;
    StaticFiles files;
    REQUIRE(files.mount("/", (tree.dir / "site" / "public").string()));
    CHECK(files.hasRoot());
    for (const char* path : {"/.env", "/.git/config", "/room.lua", "/ROOM.LUA", "/partyline.yaml",
                             "/../room.lua", "/sub/../../secret.txt", "/./app.js", "/sub/..", "/a\\..\\b"}) {
        CAPTURE(path);
        CHECK(files.resolve(path).kind == Kind::NotFound);
    }
}

TEST_CASE("a symlink is followed only while it stays inside the mount and names no script") {
    Tree tree;
    StaticFiles files;
    REQUIRE(files.mount("/", (tree.dir / "site" / "public").string()));
    CHECK(files.resolve("/escape.html").kind == Kind::NotFound);
    CHECK(files.resolve("/innocent.html").kind == Kind::NotFound);
    CHECK(files.resolve("/alias.js").kind == Kind::File);
}

TEST_CASE("an .shtml file is a file like any other: resolved to be sent as bytes") {
    Tree tree;
    StaticFiles files;
    REQUIRE(files.mount("/", (tree.dir / "site" / "public").string()));
    CHECK(files.resolve("/page.shtml").kind == Kind::File);
}

TEST_CASE("examples are mounted by their public folders only; the longest prefix wins") {
    Tree tree;
    fs::create_directories(tree.dir / "examples" / "chat" / "public");
    fs::create_directories(tree.dir / "examples" / "noweb");
    tree.write("examples/chat/public/index.html", "chat");
    tree.write("examples/chat/room.lua", "return {}");
    StaticFiles files;
    files.mountExamples((tree.dir / "examples").string());
    REQUIRE(files.mounts().size() == 1);
    CHECK(files.mounts()[0].prefix == "/chat/");
    CHECK(files.resolve("/chat/").kind == Kind::File);
    CHECK(files.resolve("/chat/room.lua").kind == Kind::NotFound);
    CHECK(files.resolve("/noweb/").kind == Kind::NotFound);
    CHECK_FALSE(files.mount("/gone/", (tree.dir / "nothing").string()));
}
