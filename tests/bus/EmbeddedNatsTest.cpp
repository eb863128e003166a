#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "BusTestSupport.h"
#include "bus/EmbeddedNats.h"

using namespace partyline;
using partyline::testing::TempDir;

namespace {

bool accepts(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

}  // namespace

TEST_SUITE("nats") {
    TEST_CASE("EmbeddedNats starts a server on a free loopback port with its store and log in the data dir") {
        TempDir dir;
        auto nats = EmbeddedNats::start(dir.path());
        REQUIRE_MESSAGE(nats.isOk(), nats.status().toString());
        CHECK(nats.value()->url() == "nats://127.0.0.1:" + std::to_string(nats.value()->port()));
        CHECK(std::filesystem::is_directory(dir.path() + "/jetstream"));
        CHECK(std::filesystem::file_size(dir.path() + "/nats-server.log") > 0);
    }

    TEST_CASE(
        "the port is above the kernel's ephemeral range when there is room, so a restart finds it free") {
        std::ifstream range("/proc/sys/net/ipv4/ip_local_port_range");
        int low = 0, high = 0;
        range >> low >> high;
        TempDir dir;
        auto nats = EmbeddedNats::start(dir.path());
        REQUIRE_MESSAGE(nats.isOk(), nats.status().toString());
        if (65535 - high >= 1000)
            CHECK(nats.value()->port() > high);
        else
            MESSAGE("no room above the ephemeral range " << low << "-" << high << ": port "
                                                         << nats.value()->port());
    }

    TEST_CASE("two embedded servers get different ports") {
        TempDir a, b;
        auto first = EmbeddedNats::start(a.path());
        auto second = EmbeddedNats::start(b.path());
        REQUIRE(first.isOk());
        REQUIRE(second.isOk());
        CHECK(first.value()->port() != second.value()->port());
    }

    TEST_CASE("a server that cannot start is reported with the end of its log") {
        TempDir dir;
        // A store directory that is a file: nats-server exits at once.
        std::filesystem::create_directories(dir.path());
        {
            FILE* f = std::fopen((dir.path() + "/jetstream").c_str(), "w");
            REQUIRE(f);
            std::fclose(f);
        }
        auto nats = EmbeddedNats::start(dir.path());
        REQUIRE_FALSE(nats.isOk());
        MESSAGE(nats.status().toString());
        CHECK(nats.status().message().find("nats-server") != std::string::npos);
    }

    TEST_CASE("the server dies with its parent, even on SIGKILL") {
        TempDir dir;
        int pipeFds[2];
        REQUIRE(::pipe(pipeFds) == 0);
        pid_t fakePartyline = ::fork();
        REQUIRE(fakePartyline >= 0);
        if (fakePartyline == 0) {
            // Plays partyline: starts the server, reports it, and waits to be killed.
            ::close(pipeFds[0]);
            auto nats = EmbeddedNats::start(dir.path());
            int report[2] = {nats.isOk() ? nats.value()->port() : -1,
                             nats.isOk() ? int(nats.value()->pid()) : -1};
            (void)!::write(pipeFds[1], report, sizeof report);
            ::pause();
            ::_exit(0);
        }
        ::close(pipeFds[1]);
        int report[2] = {-1, -1};
        pollfd ready{pipeFds[0], POLLIN, 0};
        const bool reported =
            ::poll(&ready, 1, 15000) == 1 && ::read(pipeFds[0], report, sizeof report) == sizeof report;
        ::close(pipeFds[0]);
        ::kill(fakePartyline, SIGKILL);
        ::waitpid(fakePartyline, nullptr, 0);
        REQUIRE(reported);
        REQUIRE(report[0] > 0);
        // The kernel told the orphaned server to stop: its port closes soon.
        bool gone = false;
        for (int i = 0; i < 200 && !gone; ++i) {
            gone = !accepts(report[0]);
            if (!gone) ::usleep(50000);
        }
        CHECK(gone);
        if (!gone) ::kill(report[1], SIGKILL);  // leave no server behind, even on failure
    }
}
