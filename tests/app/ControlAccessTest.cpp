#include <doctest/doctest.h>

#include <string>

#include "app/ControlAccess.h"

using namespace partyline;
using Verdict = ControlAccess::Verdict;

namespace {
std::string bearer(const std::string& key) {
    return "Bearer " + key;
}
}  // namespace

TEST_CASE("with keys, only a bearer token equal to one of them is let in, from any address") {
    ControlAccess access({"first-key", "second-key"}, false);
    std::string first = bearer("first-key"), second = bearer("second-key");
    CHECK(access.check(&first, "203.0.113.9") == Verdict::Allowed);
    CHECK(access.check(&second, "127.0.0.1") == Verdict::Allowed);
    std::string wrong = bearer("first-kez"), prefix = bearer("first"), longer = bearer("first-key2");
    CHECK(access.check(&wrong, "127.0.0.1") == Verdict::WrongKey);
    CHECK(access.check(&prefix, "127.0.0.1") == Verdict::WrongKey);
    CHECK(access.check(&longer, "127.0.0.1") == Verdict::WrongKey);
    CHECK(access.check(nullptr, "127.0.0.1") == Verdict::MissingKey);  // keys bind loopback too
}

TEST_CASE("the Bearer scheme is read without case; anything else is a wrong key") {
    ControlAccess access({"k1"}, false);
    std::string lower = "bearer k1", upper = "BEARER k1";
    CHECK(access.check(&lower, "::1") == Verdict::Allowed);
    CHECK(access.check(&upper, "::1") == Verdict::Allowed);
    for (std::string bad :
         {"Basic k1", "Bearer", "Bearer ", "Bearer  k1", "k1", "Bearer k1 ", "Bearer k1\r\n"}) {
        CAPTURE(bad);
        CHECK(access.check(&bad, "::1") == Verdict::WrongKey);
    }
}

TEST_CASE("an empty, a 64 KiB or a non-ASCII key is refused, not matched") {
    ControlAccess access({"k1"}, false);
    std::string empty = "Bearer ", huge = bearer(std::string(65536, 'k')),
                nonAscii = bearer(
                    "k\xc3\xa9"
                    "1");
    CHECK(access.check(&empty, "127.0.0.1") == Verdict::WrongKey);
    CHECK(access.check(&huge, "127.0.0.1") == Verdict::WrongKey);
    CHECK(access.check(&nonAscii, "127.0.0.1") == Verdict::WrongKey);
}

TEST_CASE("without keys only loopback peers are served") {
    ControlAccess access({}, false);
    for (const char* peer : {"127.0.0.1", "127.0.0.2", "127.255.0.1", "::1", "::ffff:127.0.0.1"}) {
        CAPTURE(peer);
        CHECK(access.check(nullptr, peer) == Verdict::Allowed);
    }
    std::string anyKey = bearer("whatever");
    for (const char* peer :
         {"10.0.0.1", "192.168.1.2", "::ffff:10.0.0.1", "2001:db8::1", "", "not-an-ip", "128.0.0.1"}) {
        CAPTURE(peer);
        CHECK(access.check(nullptr, peer) == Verdict::NotLoopback);
        CHECK(access.check(&anyKey, peer) == Verdict::NotLoopback);
    }
}

TEST_CASE("without keys a web page's request is refused even from loopback; with keys it needs one") {
    ControlAccess loopbackOnly({}, false);
    CHECK(loopbackOnly.check(nullptr, "127.0.0.1", true) == Verdict::BrowserPage);
    CHECK(ControlAccess::statusFor(Verdict::BrowserPage) == 403);
    ControlAccess keyed({"k1"}, false);
    std::string key = "Bearer k1";
    CHECK(keyed.check(&key, "127.0.0.1", true) == Verdict::Allowed);
    CHECK(keyed.check(nullptr, "127.0.0.1", true) == Verdict::MissingKey);
    CHECK(ControlAccess({}, true).check(nullptr, "127.0.0.1", true) == Verdict::Allowed);
}

TEST_CASE("insecure opens the control API to everyone") {
    ControlAccess access({}, true);
    CHECK(access.check(nullptr, "203.0.113.9") == Verdict::Allowed);
}

TEST_CASE("refusals answer 401 or 403 with a body that names no key") {
    CHECK(ControlAccess::statusFor(Verdict::MissingKey) == 401);
    CHECK(ControlAccess::statusFor(Verdict::WrongKey) == 401);
    CHECK(ControlAccess::statusFor(Verdict::NotLoopback) == 403);
    CHECK(std::string(ControlAccess::explain(Verdict::NotLoopback)) ==
          "set api.keys to use the control API from another host\n");
    ControlAccess access({"super-secret-key"}, false);
    CHECK(access.describe().find("super-secret-key") == std::string::npos);
    CHECK(access.describe().find("1 in api.keys") != std::string::npos);
}
