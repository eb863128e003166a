// findSocket against real loopback connections (IPv4, IPv6, IPv4-mapped), the adopted-fd registry
// it skips, and the fallback that finds an fd past a long gap of free numbers.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <vector>

#include "NetTestSupport.h"
#include "net/SocketLocator.h"

namespace partyline::net {
namespace {

using test::TcpPair;
using test::UnixPair;

// A loopback IPv6 connection, or nothing where IPv6 is not available. `v4mapped` listens on [::]
// with IPV6_V6ONLY off and connects over IPv4, as a dual-stack CivetWeb listener would see it.
struct Ipv6Pair {
    int client = -1, server = -1;
    uint16_t serverPort = 0, clientPort = 0;

    explicit Ipv6Pair(bool v4mapped) {
        int listener = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener < 0) return;
        int off = 0;
        ::setsockopt(listener, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        sockaddr_in6 addr{};
        addr.sin6_family = AF_INET6;
        addr.sin6_addr = v4mapped ? in6addr_any : in6addr_loopback;
        socklen_t len = sizeof addr;
        if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
            ::listen(listener, 4) != 0 ||
            ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            ::close(listener);
            return;
        }
        serverPort = ntohs(addr.sin6_port);
        int rc;
        if (v4mapped) {
            sockaddr_in to{};
            to.sin_family = AF_INET;
            to.sin_port = addr.sin6_port;
            to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            rc = ::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to);
        } else {
            client = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
            rc = ::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
        }
        if (rc == 0) server = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        ::close(listener);
        sockaddr_storage peer{};
        len = sizeof peer;
        ::getsockname(client, reinterpret_cast<sockaddr*>(&peer), &len);
        clientPort = ntohs(peer.ss_family == AF_INET ? reinterpret_cast<sockaddr_in&>(peer).sin_port
                                                     : reinterpret_cast<sockaddr_in6&>(peer).sin6_port);
    }
    ~Ipv6Pair() {
        if (client >= 0) ::close(client);
        if (server >= 0) ::close(server);
    }
    bool ok() const { return server >= 0; }
};

TEST_SUITE("net.SocketLocator") {
    TEST_CASE("finds the accepted socket of an IPv4 loopback connection, not the client's") {
        TcpPair pair;
        CHECK(findSocket(pair.serverPort, "127.0.0.1", pair.clientPort) == pair.server);
        CHECK(findSocket(pair.serverPort, "127.0.0.1", uint16_t(pair.clientPort + 1)) == -1);
        CHECK(findSocket(uint16_t(pair.serverPort + 1), "127.0.0.1", pair.clientPort) == -1);
        CHECK(findSocket(pair.serverPort, "127.0.0.2", pair.clientPort) == -1);
    }

    TEST_CASE("findListeningSocket finds the listener of a port, not the connections on it") {
        int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        REQUIRE(::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listener, 4) == 0);
        ::getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len);
        uint16_t port = ntohs(addr.sin_port);
        int client = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        REQUIRE(::connect(client, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        int accepted = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
        REQUIRE(accepted >= 0);
        CHECK(findListeningSocket(port) == listener);
        ::close(listener);
        CHECK(findListeningSocket(port) == -1);  // the accepted connection is on the port, not listening
        ::close(accepted);
        ::close(client);
    }

    TEST_CASE("an address that does not parse matches nothing") {
        TcpPair pair;
        CHECK(findSocket(pair.serverPort, "localhost", pair.clientPort) == -1);
        CHECK(findSocket(pair.serverPort, "", pair.clientPort) == -1);
    }

    TEST_CASE("finds an IPv6 connection, with or without brackets") {
        Ipv6Pair pair(false);
        if (!pair.ok()) return;  // no IPv6 loopback here
        CHECK(findSocket(pair.serverPort, "::1", pair.clientPort) == pair.server);
        CHECK(findSocket(pair.serverPort, "[::1]", pair.clientPort) == pair.server);
        CHECK(findSocket(pair.serverPort, "127.0.0.1", pair.clientPort) == -1);
    }

    TEST_CASE("an IPv4 client of a dual-stack listener matches in both spellings") {
        Ipv6Pair pair(true);
        if (!pair.ok()) return;
        CHECK(findSocket(pair.serverPort, "127.0.0.1", pair.clientPort) == pair.server);
        CHECK(findSocket(pair.serverPort, "::ffff:127.0.0.1", pair.clientPort) == pair.server);
    }

    TEST_CASE("adopted sockets are skipped until released") {
        TcpPair pair;
        CHECK(!isAdopted(pair.server));
        {
            AdoptedSocket adopted(pair.server);
            REQUIRE(adopted.valid());
            CHECK(isAdopted(pair.server));
            CHECK(findSocket(pair.serverPort, "127.0.0.1", pair.clientPort) == -1);
            AdoptedSocket twice(pair.server);
            CHECK(!twice.valid());  // one owner per fd
        }
        CHECK(!isAdopted(pair.server));
        CHECK(findSocket(pair.serverPort, "127.0.0.1", pair.clientPort) == pair.server);
    }

    TEST_CASE("a socket this thread found before is checked again, not trusted, when its fd is reused") {
        TcpPair first, second;
        REQUIRE(findSocket(first.serverPort, "127.0.0.1", first.clientPort) == first.server);
        // The fd number found now holds another connection: the first one is gone.
        REQUIRE(::dup2(second.server, first.server) == first.server);
        CHECK(findSocket(first.serverPort, "127.0.0.1", first.clientPort) == -1);
        // The other connection is found at its own fd first (the lowest number), then again.
        CHECK(findSocket(second.serverPort, "127.0.0.1", second.clientPort) ==
              std::min(first.server, second.server));
        CHECK(findSocket(second.serverPort, "127.0.0.1", second.clientPort) ==
              std::min(first.server, second.server));
        // Found and cached, then adopted: skipped like any adopted socket.
        AdoptedSocket adopted(std::min(first.server, second.server));
        REQUIRE(adopted.valid());
        CHECK(findSocket(second.serverPort, "127.0.0.1", second.clientPort) ==
              std::max(first.server, second.server));
    }

    TEST_CASE("AdoptedSocket::find finds and adopts in one step; moving keeps one owner") {
        TcpPair pair;
        AdoptedSocket found = AdoptedSocket::find(pair.serverPort, "127.0.0.1", pair.clientPort);
        REQUIRE(found.valid());
        CHECK(found.fd() == pair.server);
        AdoptedSocket moved = std::move(found);
        CHECK(!found.valid());
        CHECK(moved.fd() == pair.server);
        CHECK(isAdopted(pair.server));
        moved.reset();
        CHECK(!isAdopted(pair.server));
        CHECK(!AdoptedSocket::find(pair.serverPort, "127.0.0.1", uint16_t(pair.clientPort ^ 1)).valid());
    }

    TEST_CASE("with many adopted sockets, a new connection is still found") {
        std::vector<std::unique_ptr<UnixPair>> crowd;
        std::vector<AdoptedSocket> adopted;
        for (int i = 0; i < 300; ++i) {
            crowd.push_back(std::make_unique<UnixPair>());
            adopted.emplace_back(crowd.back()->writer);
            adopted.emplace_back(crowd.back()->reader);
        }
        TcpPair pair;
        CHECK(findSocket(pair.serverPort, "127.0.0.1", pair.clientPort) == pair.server);
        adopted.clear();  // released before the fds close
    }

    TEST_CASE("a socket past a long gap of free fd numbers is found by the fallback") {
        TcpPair pair;
        // Move the accepted socket far above every other fd, leaving a gap longer than the scan margin.
        int far = ::fcntl(pair.server, F_DUPFD_CLOEXEC, 5000);
        if (far < 0) return;  // the fd limit is too low here
        ::close(pair.server);
        pair.server = far;
        CHECK(findSocket(pair.serverPort, "127.0.0.1", pair.clientPort) == far);
    }
}

}  // namespace
}  // namespace partyline::net
