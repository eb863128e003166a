// NatsServerVersion: parsing, ordering, the newest of several binaries (small scripts that print
// a version, as nats-server --version does) and the INFO probe against a loopback listener that
// answers as a server would. No nats-server.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "bus/NatsServerVersion.h"

namespace partyline {
namespace {

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        path = std::filesystem::temp_directory_path() / ("partyline-nsv-" + std::to_string(::getpid()));
        std::filesystem::create_directories(path);
    }
    ~TempDir() { std::filesystem::remove_all(path); }
};

// An executable that prints `output` like nats-server --version.
std::string fakeServer(const std::filesystem::path& dir, const std::string& name, const std::string& output) {
    auto file = dir / name / "nats-server";
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file) << "#!/bin/sh\necho '" << output << "'\n";
    std::filesystem::permissions(file, std::filesystem::perms::owner_all);
    return file.string();
}

struct EnvVar {
    std::string name;
    std::string old;
    bool had;
    EnvVar(std::string n, const std::string& value) : name(std::move(n)) {
        const char* current = std::getenv(name.c_str());
        had = current != nullptr;
        if (had) old = current;
        ::setenv(name.c_str(), value.c_str(), 1);
    }
    ~EnvVar() { had ? ::setenv(name.c_str(), old.c_str(), 1) : ::unsetenv(name.c_str()); }
};

// A loopback listener on a free port that writes `answer` to its one client and closes.
struct OneShotServer {
    int fd = -1;
    uint16_t port = 0;
    std::thread thread;
    explicit OneShotServer(std::string answer) {
        fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
        REQUIRE(::listen(fd, 1) == 0);
        socklen_t length = sizeof address;
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
        port = ntohs(address.sin_port);
        thread = std::thread([this, answer = std::move(answer)] {
            int client = ::accept(fd, nullptr, nullptr);
            if (client < 0) return;
            ssize_t ignored = ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
            (void)ignored;
            ::close(client);
        });
    }
    ~OneShotServer() {
        ::shutdown(fd, SHUT_RDWR);
        thread.join();
        ::close(fd);
    }
};

}  // namespace

TEST_CASE("versions parse from what --version and INFO give, and order by number") {
    auto v = parseNatsServerVersion("nats-server: v2.15.3\n");
    REQUIRE(v);
    CHECK(v->major == 2);
    CHECK(v->minor == 15);
    CHECK(v->patch == 3);
    CHECK(v->text == "2.15.3");
    auto rc = parseNatsServerVersion("2.11.0-RC.1");
    REQUIRE(rc);
    CHECK(rc->text == "2.11.0-RC.1");
    CHECK(rc->atLeast(2, 11));
    CHECK(!rc->atLeast(2, 11, 1));
    auto old = parseNatsServerVersion("v2.9.10");
    REQUIRE(old);
    CHECK(*old < *v);  // 9 < 15 as numbers, not as text
    CHECK(!(*v < *old));
    CHECK(!old->atLeast(2, 10));
    for (std::string bad : {"", "nats-server", "2.15", "v2..3", "2.15.x", "2.15.3x", "2.-1.3"})
        CHECK_MESSAGE(!parseNatsServerVersion(bad), bad);
}

TEST_CASE("the newest binary wins; NATS_SERVER_BIN chooses one alone") {
    TempDir dir;
    std::string older = fakeServer(dir.path, "a", "nats-server: v2.9.10");
    std::string newer = fakeServer(dir.path, "b", "nats-server: v2.15.3");
    std::string broken = fakeServer(dir.path, "c", "no version here");
    {
        EnvVar path("PATH", (dir.path / "c").string() + ":" + (dir.path / "a").string() + ":" +
                                (dir.path / "b").string() + ":" + std::getenv("PATH"));
        EnvVar none("NATS_SERVER_BIN", "");
        auto candidates = natsServerCandidates();
        REQUIRE(candidates.size() >= 3);
        auto best = newestNatsServer();
        REQUIRE(best);
        // An installed nats-server newer than 2.15.3 would win too; none of the fakes but b can.
        CHECK(best->path != older);
        CHECK(best->path != broken);
        CHECK(best->version.atLeast(2, 15, 3));
    }
    {
        EnvVar chosen("NATS_SERVER_BIN", older);
        auto candidates = natsServerCandidates();
        REQUIRE(candidates.size() == 1);
        auto best = newestNatsServer();
        REQUIRE(best);
        CHECK(best->path == older);
        CHECK(best->version.text == "2.9.10");
    }
    {
        EnvVar chosen("NATS_SERVER_BIN", broken);
        auto best = newestNatsServer();
        REQUIRE(!best);
        CHECK(best.status().code() == Code::NotFound);
        CHECK(best.status().message().find("printed no version") != std::string::npos);
    }
}

TEST_CASE("INFO lines give the version; anything else is a clear error") {
    auto v = versionFromInfo(R"(INFO {"server_id":"X","version":"2.15.3","proto":1,"max_payload":1048576})"
                             "\r\n");
    REQUIRE(v);
    CHECK(v->text == "2.15.3");
    CHECK(versionFromInfo("-ERR 'nope'\r\n").status().message() == "the server's first line is not INFO");
    CHECK(versionFromInfo("INFO {not json}\r\n").status().message().starts_with("INFO is not JSON"));
    CHECK(versionFromInfo(R"(INFO {"proto":1})").status().message() == "INFO names no version");
}

TEST_CASE("the probe reads the INFO a listener sends, and times out on a silent one") {
    {
        OneShotServer server(R"(INFO {"version":"2.9.10"})"
                             "\r\n");
        auto v =
            probeServerVersion("nats://127.0.0.1:" + std::to_string(server.port) + ",nats://127.0.0.1:1");
        REQUIRE_MESSAGE(v, v.status().toString());
        CHECK(v->text == "2.9.10");
    }
    {
        OneShotServer server(R"(INFO {"version":"2.15.3"})"
                             "\r\n");
        auto v = probeServerVersion("nats://user:secret@127.0.0.1:" + std::to_string(server.port));
        REQUIRE_MESSAGE(v, v.status().toString());
        CHECK(v->text == "2.15.3");
    }
    {
        OneShotServer server("");  // accepts and closes without a word
        auto v = probeServerVersion("nats://127.0.0.1:" + std::to_string(server.port),
                                    std::chrono::milliseconds(2000));
        CHECK(!v);
    }
}

}  // namespace partyline
