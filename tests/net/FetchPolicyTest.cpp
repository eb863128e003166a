// FetchPolicy: the allow list by name (URLs parsed by libcurl) and by address (sockaddrs built by
// hand, as libcurl's open-socket callback would pass them). No network.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>

#include <initializer_list>
#include <string>

#include "net/FetchPolicy.h"

namespace partyline::net {
namespace {

bool allowed(const FetchPolicy& policy, const std::string& url) {
    return policy.check(url).isOk();
}

std::string refusal(const FetchPolicy& policy, const std::string& url) {
    auto target = policy.check(url);
    return target.isOk() ? "allowed" : target.status().message();
}

sockaddr_storage address(const std::string& ip, uint16_t port) {
    sockaddr_storage storage{};
    if (ip.find(':') != std::string::npos) {
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&storage);
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        REQUIRE(inet_pton(AF_INET6, ip.c_str(), &v6->sin6_addr) == 1);
    } else {
        auto* v4 = reinterpret_cast<sockaddr_in*>(&storage);
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        REQUIRE(inet_pton(AF_INET, ip.c_str(), &v4->sin_addr) == 1);
    }
    return storage;
}

bool connects(const FetchPolicy& policy, const std::string& url, const std::string& ip, uint16_t port) {
    auto target = policy.check(url);
    REQUIRE(target.isOk());
    auto storage = address(ip, port);
    return policy.allowsAddress(*target, reinterpret_cast<const sockaddr*>(&storage));
}

}  // namespace

TEST_CASE("an empty list allows nothing") {
    FetchPolicy policy({});
    CHECK(refusal(policy, "https://api.example.com/") == "not allowed: host api.example.com");
    CHECK(refusal(policy, "http://127.0.0.1/") == "not allowed: host 127.0.0.1");
}

TEST_CASE("a listed host is allowed over http and https on the default port, with any path") {
    FetchPolicy policy({"api.example.com"});
    CHECK(allowed(policy, "https://api.example.com/games/1?x=2#frag"));
    CHECK(allowed(policy, "http://api.example.com"));
    CHECK(allowed(policy, "https://api.example.com:443/"));
    CHECK(allowed(policy, "http://api.example.com:80/"));
    CHECK(refusal(policy, "https://other.example.com/") == "not allowed: host other.example.com");
    CHECK(refusal(policy, "https://evil-api.example.com/") == "not allowed: host evil-api.example.com");
    CHECK(!allowed(policy, "https://api.example.com.evil.net/"));
    CHECK(!allowed(policy, "https://sub.api.example.com/"));
}

TEST_CASE("an entry without a port allows the scheme's default port only; a listed port either scheme") {
    FetchPolicy policy({"api.example.com", "backend.example.com:8080"});
    CHECK(!allowed(policy, "https://api.example.com:8443/"));
    CHECK(!allowed(policy, "http://api.example.com:443/"));  // https's port, over http
    CHECK(!allowed(policy, "https://api.example.com:80/"));
    CHECK(allowed(policy, "http://backend.example.com:8080/"));
    CHECK(allowed(policy, "https://backend.example.com:8080/"));
    CHECK(!allowed(policy, "http://backend.example.com/"));
    CHECK(!allowed(policy, "http://backend.example.com:8081/"));
}

TEST_CASE("a wildcard matches subdomains at any depth, not the bare domain") {
    FetchPolicy policy({"*.internal.example.com"});
    CHECK(allowed(policy, "http://a.internal.example.com/"));
    CHECK(allowed(policy, "http://a.b.internal.example.com/"));
    CHECK(!allowed(policy, "http://internal.example.com/"));
    CHECK(!allowed(policy, "http://ainternal.example.com/"));
    CHECK(!allowed(policy, "http://a.internal.example.com.evil.net/"));
    CHECK(!allowed(policy, "http://a.internal.example.com:8080/"));
}

TEST_CASE("names compare without case; percent-encoded hosts are decoded before the check") {
    FetchPolicy policy({"API.Example.com", "*.Internal.example.com"});
    CHECK(allowed(policy, "HTTPS://API.EXAMPLE.COM/"));
    CHECK(allowed(policy, "https://api.example.com/"));
    CHECK(allowed(policy, "http://X.INTERNAL.example.com/"));
    CHECK(allowed(policy, "http://%61pi.example.com/"));
    CHECK(refusal(policy, "http://%65vil.com/") == "not allowed: host evil.com");
    CHECK(refusal(policy, "http://evil.com%2f.api.example.com/") == "bad url");
    CHECK(refusal(policy, "http://api.example.com%00.evil.com/") == "bad url");
}

TEST_CASE("userinfo, fragments and backslashes do not make another host the listed one") {
    FetchPolicy policy({"api.example.com"});
    CHECK(refusal(policy, "http://api.example.com@evil.com/") == "not allowed: host evil.com");
    CHECK(refusal(policy, "http://api.example.com:80@evil.com/") == "not allowed: host evil.com");
    CHECK(refusal(policy, "http://evil.com#@api.example.com") == "not allowed: host evil.com");
    CHECK(refusal(policy, "http://evil.com?@api.example.com") == "not allowed: host evil.com");
    CHECK(refusal(policy, "http://api.example.com\\@evil.com/") == "not allowed: host evil.com");
    CHECK(allowed(policy, "http://user:pass@api.example.com/"));  // userinfo naming nothing else
}

TEST_CASE("a trailing dot is not the listed host, in the URL or in the entry") {
    FetchPolicy policy({"api.example.com"});
    CHECK(refusal(policy, "http://api.example.com./") == "not allowed: host api.example.com.");
    CHECK(FetchPolicy::checkEntry("api.example.com.").code() == Code::InvalidArgument);
}

TEST_CASE("a name longer than DNS allows (253 bytes) is never listed, not even by a wildcard") {
    FetchPolicy policy({"*.internal.example.com"});
    std::string suffix = ".internal.example.com";
    std::string longest(253 - suffix.size(), 'a');
    for (size_t dot = 60; dot < longest.size(); dot += 61) longest[dot] = '.';
    CHECK(allowed(policy, "http://" + longest + suffix + "/"));
    std::string tooLong = "b" + longest + suffix;
    CHECK(refusal(policy, "http://" + tooLong + "/") == "not allowed: host " + tooLong.substr(0, 200));
    CHECK(FetchPolicy::checkEntry(tooLong).code() == Code::InvalidArgument);
}

TEST_CASE("IPv4 and IPv6 literals, with and without ports, in the forms libcurl normalises") {
    FetchPolicy policy({"127.0.0.1:8080", "10.0.0.5", "[::1]:8080", "[2001:db8::1]"});
    CHECK(allowed(policy, "http://127.0.0.1:8080/"));
    CHECK(!allowed(policy, "http://127.0.0.1:8081/"));
    CHECK(!allowed(policy, "http://127.0.0.1/"));
    CHECK(allowed(policy, "http://2130706433:8080/"));  // 127.0.0.1 as one number
    CHECK(allowed(policy, "http://0x7f.1:8080/"));
    CHECK(allowed(policy, "http://10.0.0.5/"));
    CHECK(allowed(policy, "https://10.0.0.5/"));
    CHECK(allowed(policy, "http://[::1]:8080/"));
    CHECK(allowed(policy, "http://[0:0::1]:8080/"));
    CHECK(!allowed(policy, "http://[::1]/"));
    CHECK(allowed(policy, "http://[2001:DB8:0::1]/"));
    CHECK(refusal(policy, "http://[::ffff:127.0.0.1]:8080/") == "not allowed: host ::ffff:127.0.0.1");
    CHECK(refusal(policy, "http://[fe80::1%25eth0]/") == "not allowed: host [fe80::1]");  // a zone id
}

TEST_CASE("only http and https URLs that libcurl parses, with a host and a port above 0") {
    FetchPolicy policy({"api.example.com"});
    for (std::string bad : std::initializer_list<std::string>{
             "", "api.example.com", "ftp://api.example.com/", "file:///etc/passwd",
             "gopher://api.example.com/", "dict://api.example.com/", "http://", "http://:80/",
             "http://api.example.com:99999/", "http://api.example.com:0/", "http://api.example.com:80x/",
             "http://a b/", std::string("http://api.example.com/\0x", 25),
             "http://" + std::string(20000, 'a') + "/"}) {
        CAPTURE(bad);
        CHECK(refusal(policy, bad) == "bad url");
    }
}

TEST_CASE("entries: host, host:port, *.domain and literals; anything else is refused and allows nothing") {
    for (const char* good : {"api.example.com", "api.example.com:8080", "*.example.com", "*.example.com:8443",
                             "127.0.0.1", "127.0.0.1:8080", "[::1]", "[::1]:8080", "localhost"}) {
        CAPTURE(good);
        CHECK(FetchPolicy::checkEntry(good).isOk());
    }
    for (const char* bad :
         {"", "*", "*.", "*.*.example.com", "*.127.0.0.1", "http://api.example.com", "api.example.com/path",
          "user@api.example.com", "api.example.com:", "api.example.com:0", "api.example.com:70000", "::1",
          "[::1", "a..b", "%61pi.example.com", "api example.com", "api.example.com?x", "[fe80::1%25eth0]"}) {
        CAPTURE(bad);
        CHECK(!FetchPolicy::checkEntry(bad).isOk());
    }
    CHECK(FetchPolicy::checkEntry("a/b").message().find("fetch.allow") != std::string::npos);
    FetchPolicy policy({"user@evil.com", "api.example.com/x", "*"});
    CHECK(!allowed(policy, "http://evil.com/"));
    CHECK(!allowed(policy, "http://api.example.com/"));
}

TEST_CASE("a listed name may not connect to loopback, link-local, unspecified or metadata addresses") {
    FetchPolicy policy({"api.example.com", "localhost:8080"});
    const std::string url = "http://api.example.com/";
    CHECK(connects(policy, url, "93.184.216.34", 80));
    CHECK(connects(policy, url, "2606:2800:220:1:248:1893:25c8:1946", 80));
    for (const char* guarded :
         {"127.0.0.1", "127.1.2.3", "0.0.0.0", "0.1.2.3", "169.254.169.254", "169.254.1.1", "::1",
          "::", "fe80::1", "febf::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "fd00:ec2::254"}) {
        CAPTURE(guarded);
        CHECK(!connects(policy, url, guarded, 80));
    }
    CHECK(!connects(policy, "http://localhost:8080/", "127.0.0.1", 8080));
    CHECK(!connects(policy, "http://localhost:8080/", "::1", 8080));
}

TEST_CASE("private ranges are allowed: backends live there, and the name must be listed anyway") {
    FetchPolicy policy({"api.example.com"});
    for (const char* ip :
         {"10.1.2.3", "172.16.0.1", "192.168.1.1", "100.64.0.1", "fd12:3456::1", "fec0::1"}) {
        CAPTURE(ip);
        CHECK(connects(policy, "http://api.example.com/", ip, 80));
    }
}

TEST_CASE("a guarded address is reached when that address itself is listed, with the connection's port") {
    FetchPolicy policy({"localhost:8080", "127.0.0.1:8080", "[::1]", "169.254.169.254:81"});
    CHECK(connects(policy, "http://localhost:8080/", "127.0.0.1", 8080));
    CHECK(connects(policy, "http://127.0.0.1:8080/", "127.0.0.1", 8080));
    CHECK(connects(policy, "http://localhost:8080/", "::ffff:127.0.0.1", 8080));
    CHECK(!connects(policy, "http://localhost:8080/", "127.0.0.2", 8080));
    CHECK(!connects(policy, "http://localhost:8080/", "::1", 8080));  // [::1] is listed on port 80 only
    CHECK(connects(policy, "http://[::1]/", "::1", 80));
    CHECK(connects(policy, "https://[::1]/", "::1", 443));  // no port listed: the scheme's default
}

TEST_CASE("an address of another family than IPv4 or IPv6 is never reached") {
    sockaddr local{};
    local.sa_family = AF_UNIX;
    CHECK(FetchPolicy::isGuardedAddress(&local));
}

TEST_CASE("exactly(url): that host and port only, at any address its name resolves to") {
    auto policy = FetchPolicy::exactly("http://localhost:8080/hooks/game");
    REQUIRE(policy.isOk());
    const FetchPolicy& only = *policy.value();
    CHECK(allowed(only, "http://localhost:8080/other"));
    CHECK(refusal(only, "http://localhost:8081/hooks/game") == "not allowed: host localhost");
    CHECK(refusal(only, "http://127.0.0.1:8080/hooks/game") == "not allowed: host 127.0.0.1");
    CHECK(refusal(only, "http://api.example.com:8080/") == "not allowed: host api.example.com");
    CHECK(connects(only, "http://localhost:8080/", "127.0.0.1", 8080));
    CHECK(connects(only, "http://localhost:8080/", "::1", 8080));
    // The default port of the URL's scheme when it names none.
    auto https = FetchPolicy::exactly("https://hooks.example.com/in").value();
    CHECK(allowed(*https, "https://hooks.example.com/in"));
    CHECK(refusal(*https, "https://hooks.example.com:8443/in") == "not allowed: host hooks.example.com");
    CHECK(connects(*https, "https://hooks.example.com/in", "169.254.169.254", 443));
    for (const char* bad : {"ftp://h/x", "http://", "not a url", "file:///etc/passwd"}) {
        CAPTURE(bad);
        CHECK(FetchPolicy::exactly(bad).status().message() == "bad url");
    }
}

}  // namespace partyline::net
