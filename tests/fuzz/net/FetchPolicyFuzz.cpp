// The fetch allow list (net/FetchPolicy): entries and a URL, both parsed through libcurl's URL API.
// Input: allow-list entries separated by spaces, a newline, then the URL.
// Checks: no crash or UB; an allowed URL is http or https with a port above 0 and a host in the
// form the list compares (lower case, no userinfo, path or escape characters left in it); the URL
// libcurl gives back for it is allowed again with the same host and port; its own host:port as
// the only entry allows it, and a list without it does not; a name on the list never reaches
// loopback unless 127.0.0.1 is listed; a valid entry without wildcard or port allows
// http://<entry>/.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "FuzzCheck.h"
#include "net/FetchPolicy.h"

using namespace partyline;
using namespace partyline::net;

namespace {

std::vector<std::string> splitEntries(std::string_view text) {
    std::vector<std::string> entries;
    while (!text.empty() && entries.size() < 16) {
        size_t space = text.find(' ');
        entries.emplace_back(text.substr(0, space));
        if (space == std::string_view::npos) break;
        text.remove_prefix(space + 1);
    }
    return entries;
}

bool hostInListForm(const std::string& host) {
    if (host.empty()) return false;
    for (char c : host) {
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == ':';
        if (!ok) return false;
    }
    return true;
}

void checkAllowed(const std::vector<std::string>& entries, const FetchTarget& target) {
    FUZZ_CHECK(target.scheme == "http" || target.scheme == "https", "allowed scheme is not http/https");
    FUZZ_CHECK(target.port > 0, "allowed port 0");
    FUZZ_CHECK(hostInListForm(target.host), "allowed host not in list form");

    char* again = nullptr;
    FUZZ_CHECK(curl_url_get(target.url.get(), CURLUPART_URL, &again, 0) == CURLUE_OK, "no URL back");
    std::string url(again);
    curl_free(again);
    FetchPolicy policy(entries);
    auto second = policy.check(url);
    FUZZ_CHECK(second.isOk(), "the URL given back by libcurl is refused");
    FUZZ_CHECK(second->host == target.host && second->port == target.port,
               "the URL given back names another host");

    FetchPolicy own({target.authority()});
    FUZZ_CHECK(own.check(url).isOk(), "its own host:port does not allow the URL");
    FetchPolicy other({"other.invalid"});
    if (target.host != "other.invalid")
        FUZZ_CHECK(!other.check(url).isOk(), "a list without the host allows it");

    bool name = target.host.find_first_not_of("0123456789.:abcdef") != std::string::npos;
    if (name) {
        sockaddr_in loopback{};
        loopback.sin_family = AF_INET;
        loopback.sin_port = htons(target.port);
        loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        FUZZ_CHECK(!own.allowsAddress(target, reinterpret_cast<sockaddr*>(&loopback)),
                   "a name reached loopback");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    size_t newline = input.find('\n');
    std::vector<std::string> entries = splitEntries(input.substr(0, newline));
    std::string_view url = newline == std::string_view::npos ? input : input.substr(newline + 1);

    FetchPolicy policy(entries);
    auto target = policy.check(url);
    if (target.isOk()) {
        checkAllowed(entries, *target);
    } else {
        const std::string& why = target.status().message();
        FUZZ_CHECK(why == "bad url" || why.starts_with("not allowed: host "), "an unexpected refusal");
        FUZZ_CHECK(why.size() < 300, "a refusal longer than its bound");
    }

    for (const auto& entry : entries) {
        if (!FetchPolicy::checkEntry(entry).isOk() || entry.starts_with("*.") ||
            entry.find("]:") != std::string::npos)
            continue;
        bool bracketed = entry.starts_with("[");
        if (!bracketed && entry.find(':') != std::string::npos) continue;
        FetchPolicy single({entry});
        FUZZ_CHECK(single.check("http://" + entry + "/").isOk(), "a valid entry does not allow its own URL");
    }
    return 0;
}
