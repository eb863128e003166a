#include <doctest/doctest.h>

#include <initializer_list>
#include <string>

#include "app/HttpHeaders.h"
#include "app/OriginPolicy.h"

using namespace partyline;
using Verdict = OriginPolicy::Verdict;

namespace {
Verdict check(const OriginPolicy& policy, const std::string& origin,
              const std::string& host = "node.example.net:1999") {
    return policy.check(&origin, &host);
}
}  // namespace

TEST_CASE("a request without Origin is no browser's and is admitted") {
    OriginPolicy policy({});
    std::string host = "node:1999";
    CHECK(policy.check(nullptr, &host) == Verdict::NoOrigin);
    CHECK(policy.check(HttpHeaders{}) == Verdict::NoOrigin);
}

TEST_CASE("a page served by the node itself is the same origin, over http or https") {
    OriginPolicy policy({});
    CHECK(check(policy, "http://node.example.net:1999") == Verdict::SameOrigin);
    CHECK(check(policy, "https://NODE.example.net:1999") == Verdict::SameOrigin);
    CHECK(check(policy, "http://node.example.net:2000") == Verdict::Refused);  // another port
    CHECK(check(policy, "http://node.example.net") == Verdict::Refused);
    HttpHeaders headers;
    headers.add("Origin", "http://127.0.0.1:1999");
    headers.add("Host", "127.0.0.1:1999");
    CHECK(policy.check(headers) == Verdict::SameOrigin);
}

TEST_CASE("listed origins match exactly: scheme, host and port") {
    OriginPolicy policy({"https://app.example.com", "http://localhost:5173"});
    CHECK(check(policy, "https://app.example.com") == Verdict::Listed);
    CHECK(check(policy, "HTTPS://App.Example.COM") == Verdict::Listed);
    CHECK(check(policy, "http://localhost:5173") == Verdict::Listed);
    CHECK(check(policy, "http://app.example.com") == Verdict::Refused);        // another scheme
    CHECK(check(policy, "https://app.example.com:8443") == Verdict::Refused);  // another port
    CHECK(check(policy, "http://localhost:5174") == Verdict::Refused);
    CHECK(check(policy, "https://app.example.com.") == Verdict::Refused);  // a trailing dot
    CHECK(check(policy, "https://evil-app.example.com") == Verdict::Refused);
    CHECK(check(policy, "https://app.example.com.evil.net") == Verdict::Refused);
}

TEST_CASE("a wildcard matches subdomains at any depth, not the bare domain") {
    OriginPolicy policy({"https://*.example.com"});
    CHECK(check(policy, "https://a.example.com") == Verdict::Listed);
    CHECK(check(policy, "https://a.b.example.com") == Verdict::Listed);
    CHECK(check(policy, "https://example.com") == Verdict::Refused);
    CHECK(check(policy, "https://aexample.com") == Verdict::Refused);
    CHECK(check(policy, "http://a.example.com") == Verdict::Refused);
    CHECK(check(policy, "https://*.example.com") == Verdict::Refused);  // a request's origin has no wildcard
}

TEST_CASE("null and anything that is not scheme://host[:port] is refused") {
    OriginPolicy policy({"https://app.example.com"});
    for (std::string bad : std::initializer_list<std::string>{
             "null", "", "app.example.com", "https://", "https://app.example.com/",
             "https://app.example.com:", "https://app.example.com:99999x", "ftp://app.example.com",
             "https://a..b", "https://app.example.com\r\nSet-Cookie: x", std::string(2000, 'a')}) {
        CAPTURE(bad);
        CHECK(check(policy, bad) == Verdict::Refused);
    }
}

TEST_CASE("the refusal names the origin, printable and bounded, and the key to set") {
    std::string origin = "https://evil.example\x01";
    std::string body = OriginPolicy::explainRefusal(&origin);
    CHECK(body == "origin https://evil.example? is not allowed: add it to origins in the configuration\n");
    std::string huge(5000, 'x');
    CHECK(OriginPolicy::explainRefusal(&huge).size() < 300);
}

TEST_CASE("CORS answers name the origin and vary on it; a preflight echoes plain header lists only") {
    using Headers = OriginPolicy::Headers;
    CHECK(OriginPolicy::corsHeaders("https://a.example.com") ==
          Headers{{"Access-Control-Allow-Origin", "https://a.example.com"}, {"Vary", "Origin"}});
    auto find = [](const Headers& headers, const std::string& name) -> std::string {
        for (const auto& [n, v] : headers)
            if (n == name) return v;
        return "<none>";
    };
    std::string asked = "content-type, authorization";
    Headers preflight = OriginPolicy::preflightHeaders("https://a.example.com", &asked);
    CHECK(find(preflight, "Access-Control-Allow-Headers") == "content-type, authorization");
    CHECK(find(preflight, "Access-Control-Allow-Methods").find("POST") != std::string::npos);
    std::string injected = "x\r\nSet-Cookie: a=b";
    CHECK(find(OriginPolicy::preflightHeaders("https://a.example.com", &injected),
               "Access-Control-Allow-Headers") == "<none>");
}
