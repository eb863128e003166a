#include "app/ClientBundle.h"

#include <string>

#include "core/Crypto.h"

namespace partyline {

namespace embedded {
extern const std::string_view kClientBundle;  // generated at build time (scripts/embed-file.cmake)
}

namespace {

// "\"<sha-256 hex>\"", computed once.
const std::string& bundleTag() {
    static const std::string tag = [] {
        unsigned char digest[crypto::kMaxDigestBytes];
        char hex[2 * crypto::kMaxDigestBytes];
        if (!crypto::hash(crypto::Digest::Sha256, embedded::kClientBundle, digest)) return std::string();
        crypto::hexTo(digest, crypto::digestSize(crypto::Digest::Sha256), hex);
        return "\"" + std::string(hex, 2 * crypto::digestSize(crypto::Digest::Sha256)) + "\"";
    }();
    return tag;
}

}  // namespace

std::string_view clientBundle() {
    return embedded::kClientBundle;
}

HttpResponse clientBundleResponse(std::string_view method, const std::string* ifNoneMatch) {
    if (method != "GET") {
        HttpResponse refused = HttpResponse::text(405, "the client bundle is read with GET\n");
        refused.headers.emplace_back("Allow", "GET");
        return refused;
    }
    HttpResponse answer{200,
                        {{"Content-Type", "text/javascript; charset=utf-8"},
                         {"Cache-Control", "no-cache"},
                         {"Access-Control-Allow-Origin", "*"},
                         {"X-Content-Type-Options", "nosniff"}},
                        {}};
    const std::string& tag = bundleTag();
    if (!tag.empty()) answer.headers.emplace_back("ETag", tag);
    if (!tag.empty() && ifNoneMatch && *ifNoneMatch == tag) {
        answer.status = 304;
        return answer;
    }
    answer.body = std::string(embedded::kClientBundle);
    return answer;
}

}  // namespace partyline
