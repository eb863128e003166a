// Config::load and Config::parse: YAML text to Config, every key checked against a schema.
//
// The schema is data: one table per section, each row a key name and the rule that turns its
// text into a struct member, so a reader audits every accepted key and its bounds in one
// screen, and adding a key is one row. Errors name the file, the line of the key and its
// dotted path. Every error of the file is reported, in line order, so one run of check-config
// lists them all: a key whose value is wrong is reported and left out, and the reading goes on
// with the next key. What depends on a key that failed is not checked (a rule joining two keys,
// a section's required keys), so no error is a mere consequence of another. A YAML syntax error
// stops the reading: nothing after it has a meaning. yaml-cpp exceptions end here.
#include "config/Config.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/AddressRange.h"

namespace partyline {
namespace {

using std::chrono::seconds;

// ---------------------------------------------------------------------------------------------
// Value rules: the text of one scalar to a value, or nothing when the text is not acceptable.

// `expected` completes the message "KEY: expected ..., got 'TEXT'", so it is written as a noun.
template <class V>
struct Rule {
    std::string expected;
    std::function<std::optional<V>(const std::string&)> parse;
};

// Decimal only: YAML's 0x/0o forms and "1_000" read as typos in a configuration file.
template <class I>
std::optional<I> parseInteger(std::string_view text) {
    I value{};
    const char* end = text.data() + text.size();
    auto [stop, error] = std::from_chars(text.data(), end, value);
    if (text.empty() || error != std::errc() || stop != end) return std::nullopt;
    return value;
}

template <class I>
Rule<I> integerIn(I low, I high, std::string expected) {
    return {std::move(expected), [low, high](const std::string& text) -> std::optional<I> {
                auto value = parseInteger<I>(text);
                if (!value || *value < low || *value > high) return std::nullopt;
                return value;
            }};
}

template <class I>
Rule<I> positiveInteger() {
    return integerIn<I>(1, std::numeric_limits<I>::max(), "a positive integer");
}

Rule<std::string> textWhere(std::string expected, bool (*valid)(std::string_view)) {
    return {std::move(expected), [valid](const std::string& text) -> std::optional<std::string> {
                if (!valid(text)) return std::nullopt;
                return text;
            }};
}

bool isNameChar(char c, std::string_view alsoAllowed) {
    return std::isalnum(static_cast<unsigned char>(c)) || alsoAllowed.find(c) != std::string_view::npos;
}

bool isMadeOf(std::string_view text, std::string_view alsoAllowed, size_t maxLength) {
    if (text.empty() || text.size() > maxLength) return false;
    return std::all_of(text.begin(), text.end(), [&](char c) { return isNameChar(c, alsoAllowed); });
}

bool isDigit(char c) {
    return c >= '0' && c <= '9';
}

bool isDigits(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), isDigit);
}

bool isAddress(int family, std::string_view text) {
    unsigned char buffer[sizeof(in6_addr)];
    return inet_pton(family, std::string(text).c_str(), buffer) == 1;
}

// RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens. Underscores
// are let through because Docker and Compose service names use them and resolve fine.
bool isHostName(std::string_view host) {
    if (host.empty() || host.size() > 253) return false;
    size_t start = 0;
    while (true) {
        size_t dot = host.find('.', start);
        std::string_view label = host.substr(start, dot == std::string_view::npos ? dot : dot - start);
        if (!isMadeOf(label, "-_", 63) || label.front() == '-' || label.back() == '-') return false;
        if (dot == std::string_view::npos) return true;
        start = dot + 1;
    }
}

// IPv6 needs brackets so its colons are not read as the port separator.
bool isHost(std::string_view host) {
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
        return isAddress(AF_INET6, host.substr(1, host.size() - 2));
    }
    bool looksNumeric = std::all_of(host.begin(), host.end(), [](char c) { return isDigit(c) || c == '.'; });
    return looksNumeric ? isAddress(AF_INET, host) : isHostName(host);
}

bool isPort(std::string_view port) {
    auto number = parseInteger<int>(port);
    return isDigits(port) && number && *number >= 1 && *number <= 65535;
}

// "HOST", "HOST:PORT", "[IPV6]" or "[IPV6]:PORT"; an empty host is allowed only where it
// means every interface.
bool isHostPort(std::string_view text, bool portRequired, bool hostRequired) {
    size_t hostEnd = std::min(text.find(':'), text.size());
    if (text.front() == '[') {
        size_t close = text.find(']');
        if (close == std::string_view::npos) return false;
        hostEnd = close + 1;
    }
    std::string_view host = text.substr(0, hostEnd);
    std::string_view rest = text.substr(hostEnd);
    if (host.empty() ? hostRequired : !isHost(host)) return false;
    if (rest.empty()) return !portRequired;
    return rest.front() == ':' && isPort(rest.substr(1));
}

// Port 0 asks the kernel for a free port, which the node logs at start (tests bind so, and
// never pick a port to bind later).
bool isListenAddress(std::string_view text) {
    if (text.size() >= 2 && text.substr(text.size() - 2) == ":0") {
        return isHostPort(std::string(text.substr(0, text.size() - 1)) + "1", true, false);
    }
    return !text.empty() && isHostPort(text, true, false);
}

bool isNodeId(std::string_view text) {
    return isMadeOf(text, "_-.", 64);
}

bool isPartyName(std::string_view text) {
    return isMadeOf(text, "_-", 64);
}

// JetStream refuses '.', '*', '>' and whitespace in stream names; the rest of ASCII
// punctuation would end up in file names on the servers, so only this set is taken.
bool isStreamName(std::string_view text) {
    return isMadeOf(text, "_-", 255);
}

// One or more subject tokens; wildcards would make every room subject ambiguous.
bool isSubjectPrefix(std::string_view text) {
    if (text.empty() || text.front() == '.' || text.back() == '.') return false;
    if (text.find("..") != std::string_view::npos) return false;
    return isMadeOf(text, "_-.", 255);
}

bool isNonEmpty(std::string_view text) {
    return !text.empty();
}

// One error a line: a line break in a quoted value, a key or a YAML parser's message is written as
// \n or \r, so a list of errors splits on line ends.
std::string oneLine(std::string_view text) {
    std::string out;
    for (char c : text) out += c == '\n' ? "\\n" : c == '\r' ? "\\r" : std::string(1, c);
    return out;
}

std::string_view trimmed(std::string_view text) {
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
    while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
    return text;
}

// nats://[user[:password]@]host[:port]; tls:// is what nats.c expects for TLS-only servers.
bool isNatsServerUrl(std::string_view url) {
    size_t schemeEnd = url.find("://");
    if (schemeEnd == std::string_view::npos) return false;
    std::string_view scheme = url.substr(0, schemeEnd);
    if (scheme != "nats" && scheme != "tls") return false;
    std::string_view authority = url.substr(schemeEnd + 3);
    size_t at = authority.rfind('@');
    if (at != std::string_view::npos) authority.remove_prefix(at + 1);
    return !authority.empty() && isHostPort(authority, false, true);
}

// Spaces after the commas are forgiven and dropped, so the bus splits on ',' alone.
std::optional<std::string> parseNatsUrl(const std::string& text) {
    if (text == "embedded") return text;
    std::string servers;
    std::string_view rest = text;
    while (true) {
        size_t comma = rest.find(',');
        std::string_view url = trimmed(rest.substr(0, comma));
        if (!isNatsServerUrl(url)) return std::nullopt;
        servers += (servers.empty() ? "" : ",") + std::string(url);
        if (comma == std::string_view::npos) return servers;
        rest.remove_prefix(comma + 1);
    }
}

std::optional<bool> parseBoolean(const std::string& text) {
    if (text == "true" || text == "True" || text == "TRUE") return true;
    if (text == "false" || text == "False" || text == "FALSE") return false;
    return std::nullopt;
}

// Memory is counted in binary units; decimal ones are taken at their exact value too, because
// people write "16MB" and should get what they wrote, not a guess.
constexpr std::pair<std::string_view, uint64_t> kSizeUnits[] = {
    {"B", 1},     {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30},
    {"KB", 1000}, {"MB", 1000000},     {"GB", 1000000000},
};

std::optional<size_t> parseSize(const std::string& text) {
    std::string_view view = text;
    size_t digits = 0;
    while (digits < view.size() && isDigit(view[digits])) ++digits;
    auto number = parseInteger<uint64_t>(view.substr(0, digits));
    std::string_view unit = trimmed(view.substr(digits));
    uint64_t multiplier = unit.empty() ? 1 : 0;
    for (const auto& [name, bytes] : kSizeUnits) {
        if (unit == name) multiplier = bytes;
    }
    if (!number || *number == 0 || multiplier == 0) return std::nullopt;
    if (*number > std::numeric_limits<size_t>::max() / multiplier) return std::nullopt;
    return static_cast<size_t>(*number * multiplier);
}

// Takes one "<digits><unit>" off the front of `rest`, in milliseconds.
std::optional<int64_t> takeDurationTerm(std::string_view& rest) {
    constexpr std::pair<std::string_view, int64_t> kUnits[] = {
        {"ms", 1}, {"s", 1000}, {"m", 60 * 1000}, {"h", 3600 * 1000}, {"d", 24 * 3600 * 1000}};
    size_t digits = 0;
    while (digits < rest.size() && isDigit(rest[digits])) ++digits;
    size_t end = digits;
    while (end < rest.size() && std::isalpha(static_cast<unsigned char>(rest[end]))) ++end;
    auto count = parseInteger<int64_t>(rest.substr(0, digits));
    std::string_view unit = rest.substr(digits, end - digits);
    rest.remove_prefix(end);
    for (const auto& [name, milliseconds] : kUnits) {
        if (unit != name || !count) continue;
        if (*count > std::numeric_limits<int64_t>::max() / milliseconds) return std::nullopt;
        return *count * milliseconds;
    }
    return std::nullopt;
}

std::optional<seconds> parseWholeSeconds(const std::string& text) {
    auto value = parseInteger<int64_t>(text);
    if (!value || *value < 1) return std::nullopt;
    return seconds(*value);
}

std::optional<seconds> parsePositiveDuration(const std::string& text) {
    auto duration = parseDuration(text);
    if (!duration) return std::nullopt;
    auto whole = std::chrono::duration_cast<seconds>(*duration);
    if (whole < seconds(1)) return std::nullopt;
    return whole;
}

std::optional<int64_t> parseMessageCap(const std::string& text) {
    auto value = parseInteger<int64_t>(text);
    if (!value || (*value < 1 && *value != -1)) return std::nullopt;
    return value;
}

const Rule<std::string> kListenAddress = textWhere(
    "HOST:PORT with a port from 0 (any free port) to 65535 (HOST: empty for all interfaces, IPv4, [IPv6] or "
    "a name)",
    isListenAddress);
const Rule<std::string> kOpsListenAddress =
    textWhere("HOST:PORT as for listen, or empty for none",
              [](std::string_view text) { return text.empty() || isListenAddress(text); });
const Rule<std::string> kNodeId = textWhere("'auto' or 1 to 64 characters of A-Z a-z 0-9 _ - .", isNodeId);
const Rule<std::string> kNonEmptyText = textWhere("a non-empty string", isNonEmpty);
const Rule<std::string> kNatsUrl{"'embedded' or a comma-separated list of nats:// or tls:// URLs",
                                 parseNatsUrl};
const Rule<std::string> kStreamName = textWhere("a stream name of A-Z a-z 0-9 _ -", isStreamName);
// Key-value bucket names: the same characters as stream names (the bucket's stream is KV_<name>).
const Rule<std::string> kBucketName = textWhere("a bucket name of A-Z a-z 0-9 _ -", isStreamName);
const Rule<std::string> kSubjectPrefix =
    textWhere("subject tokens of A-Z a-z 0-9 _ - separated by dots", isSubjectPrefix);
const Rule<int> kReplicas = integerIn(1, 5, "an integer from 1 to 5");
const Rule<int> kPartitions = integerIn(1, NatsConfig::kMaxPartitions, "an integer from 1 to 64");
const Rule<seconds> kPositiveDuration{
    "a duration of at least 1s, such as 24h, 30m, 90s, 7d or a number of seconds", parsePositiveDuration};
const Rule<int64_t> kMessageCap{"a positive integer, or -1 for unlimited", parseMessageCap};
const Rule<size_t> kCount = positiveInteger<size_t>();
const Rule<uint64_t> kLargeCount = positiveInteger<uint64_t>();
const Rule<size_t> kByteSize{"a positive integer or a size such as 512KiB, 1MiB, 16MB", parseSize};
std::optional<size_t> parseSizeOrZero(const std::string& text) {
    if (text == "0") return size_t(0);
    return parseSize(text);
}
const Rule<size_t> kByteSizeOrZero{"0 (no limit), a positive integer or a size such as 512KiB, 1MiB, 16MB",
                                   parseSizeOrZero};
const Rule<seconds> kWholeSeconds{"a positive integer", parseWholeSeconds};
const Rule<size_t> kCountOrZero =
    integerIn<size_t>(0, std::numeric_limits<size_t>::max(), "a non-negative integer (0: no limit)");
// CivetWeb starts every worker up front: more than a few thousand threads is a mistake.
const Rule<size_t> kHttpThreads = integerIn<size_t>(4, 10000, "an integer from 4 to 10000");
const Rule<size_t> kRoomsPerConnection = integerIn<size_t>(1, 10000, "an integer from 1 to 10000");
bool isLogLevel(std::string_view text) {
    return text == "debug" || text == "info" || text == "warn" || text == "error";
}
bool isLogFormat(std::string_view text) {
    return text == "logfmt" || text == "json";
}
const Rule<std::string> kLogLevel = textWhere("one of debug, info, warn, error", isLogLevel);
const Rule<std::string> kLogFormat = textWhere("logfmt or json", isLogFormat);
bool isLogStorage(std::string_view text) {
    return text == "file" || text == "memory";
}
const Rule<std::string> kLogStorage = textWhere("file or memory", isLogStorage);
const Rule<bool> kBoolean{"true or false", parseBoolean};

// A deadline in milliseconds: under 100 ms a client across the world cannot make it, over
// 10 minutes it holds a worker for no reason.
std::optional<std::chrono::milliseconds> parseTimeoutMs(const std::string& text) {
    auto value = parseInteger<int64_t>(text);
    if (!value || *value < 100 || *value > 600000) return std::nullopt;
    return std::chrono::milliseconds(*value);
}
const Rule<std::chrono::milliseconds> kTimeoutMs{"an integer number of milliseconds from 100 to 600000",
                                                 parseTimeoutMs};
const Rule<size_t> kMaxHeaders = integerIn<size_t>(1, 63, "an integer from 1 to 63");
std::optional<std::string> parseAddressRange(const std::string& text) {
    if (!AddressRange::parse(text)) return std::nullopt;
    return text;
}
const Rule<std::string> kAddressRange{"a numeric IP address or CIDR block such as 10.0.0.0/8 or fd00::/8",
                                      parseAddressRange};

// JetStream's duplicate window: a publish is re-sent with its message id for up to 10 s, so a
// shorter window would store a re-sent write twice.
std::optional<seconds> parseDuplicateWindow(const std::string& text) {
    auto window = parsePositiveDuration(text);
    if (!window || *window < seconds(10)) return std::nullopt;
    return window;
}
const Rule<seconds> kDuplicateWindow{"a duration of at least 10s, such as 2m, 90s or a number of seconds",
                                     parseDuplicateWindow};

// A bearer key travels in a header: printable ASCII without spaces, and short enough that
// comparing it costs nothing.
std::optional<Secret> parseApiKey(const std::string& text) {
    if (text.empty() || text.size() > 256) return std::nullopt;
    if (!std::all_of(text.begin(), text.end(), [](char c) { return c > ' ' && c < 0x7f; }))
        return std::nullopt;
    return Secret(text);
}
const Rule<Secret> kApiKey{"a key of 1 to 256 printable ASCII characters without spaces", parseApiKey};

std::optional<Secret> parseJwtSecret(const std::string& text) {
    if (text.empty() || text.size() > 4096) return std::nullopt;
    return Secret(text);
}
const Rule<Secret> kJwtSecret{"a non-empty secret of at most 4096 bytes", parseJwtSecret};

// room.env values are copied into every shard's Lua state, so each is bounded.
std::optional<Secret> parseEnvValue(const std::string& text) {
    if (text.size() > 64 * 1024) return std::nullopt;
    return Secret(text);
}
const Rule<Secret> kEnvValue{"a string of at most 64 KiB", parseEnvValue};

bool isEnvName(std::string_view text) {
    return isMadeOf(text, "_", 128) && !isDigit(text.front());
}

// "none" is listed so the message says it is refused, not merely unknown.
constexpr std::string_view kJwtAlgorithms[] = {"HS256", "HS384", "HS512", "RS256", "ES256", "EdDSA"};
bool isJwtAlgorithm(std::string_view text) {
    return std::find(std::begin(kJwtAlgorithms), std::end(kJwtAlgorithms), text) != std::end(kJwtAlgorithms);
}
const Rule<std::string> kJwtAlgorithm =
    textWhere("one of HS256, HS384, HS512, RS256, ES256, EdDSA ('none' is never accepted)", isJwtAlgorithm);
// RFC 7518 section 3.2: an HMAC key at least as long as the hash output.
size_t hmacKeyBytes(std::string_view algorithm) {
    if (algorithm == "HS256") return 32;
    if (algorithm == "HS384") return 48;
    if (algorithm == "HS512") return 64;
    return 0;
}
const Rule<seconds> kLeeway{"an integer from 0 to 3600",
                            [](const std::string& text) -> std::optional<seconds> {
                                auto value = parseInteger<int64_t>(text);
                                if (!value || *value < 0 || *value > 3600) return std::nullopt;
                                return seconds(*value);
                            }};

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// An origin as a browser sends it: http(s)://host[:port], nothing after (the origin check
// serves web pages, so other schemes are refused here rather than ignored there). Browsers
// send lowercase and leave the default port out, so the value is kept in that form.
std::optional<std::string> parseOrigin(const std::string& text) {
    std::string origin = lowercase(text);
    size_t schemeEnd = origin.find("://");
    if (schemeEnd == std::string::npos) return std::nullopt;
    std::string scheme = origin.substr(0, schemeEnd);
    if (scheme != "http" && scheme != "https") return std::nullopt;
    std::string_view authority = std::string_view(origin).substr(schemeEnd + 3);
    if (authority.starts_with("*.")) authority.remove_prefix(2);
    if (authority.empty() || authority.find_first_of("/?#@") != std::string_view::npos) return std::nullopt;
    if (!isHostPort(authority, false, true)) return std::nullopt;
    std::string_view defaultPort = scheme == "http" ? ":80" : ":443";
    if (origin.ends_with(defaultPort)) origin.resize(origin.size() - defaultPort.size());
    return origin;
}
const Rule<std::string> kOrigin{
    "an origin http(s)://host[:port] or http(s)://*.domain[:port], without a path", parseOrigin};

// An entry of fetch.allow: a host with or without a port (IPv6 in brackets), or "*.domain" for its
// subdomains, never for an address. The node matches entries with net/FetchPolicy, which accepts
// every entry this does (ConfigTest holds both to one table).
bool isNumericHost(std::string_view host) {
    return !host.empty() && (host.front() == '[' || std::all_of(host.begin(), host.end(), [](char c) {
                                 return isDigit(c) || c == '.';
                             }));
}
bool isFetchAllowEntry(std::string_view text) {
    if (text.empty() || text.size() > 300) return false;
    if (!text.starts_with("*.")) return isHostPort(text, false, true);
    std::string_view domain = text.substr(2);
    return isHostPort(domain, false, true) && !isNumericHost(domain.substr(0, domain.find(':')));
}
const Rule<std::string> kFetchAllowEntry =
    textWhere("a host, host:port, *.domain or an IP address (IPv6 in [])", isFetchAllowEntry);
// A call holds its handler until it ends: past 10 minutes it is a download or a hung backend.
const Rule<int> kFetchTimeout = integerIn(1, 600000, "a number of milliseconds from 1 to 600000");
// Each call in flight is a socket: the node's file descriptors bound it long before this.
const Rule<size_t> kFetchInFlight = integerIn<size_t>(1, 100000, "an integer from 1 to 100000");
const Rule<int> kFetchRedirects = integerIn(0, 20, "an integer from 0 to 20");

// libcurl's URL API, the parser that sends the request, must take it too, so check-config and
// serve agree.
bool curlParsesWithHost(const std::string& text) {
    CURLU* url = curl_url();
    char* host = nullptr;
    bool ok = url && curl_url_set(url, CURLUPART_URL, text.c_str(), 0) == CURLUE_OK &&
              curl_url_get(url, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host;
    curl_free(host);
    curl_url_cleanup(url);
    return ok;
}

// A webhook's URL: http or https with a host, and no space or control character.
bool isWebhookUrl(std::string_view text) {
    std::string lower = lowercase(text);
    size_t start = lower.starts_with("http://") ? 7 : lower.starts_with("https://") ? 8 : 0;
    if (start == 0 || text.size() > 2048) return false;
    if (std::any_of(text.begin(), text.end(), [](unsigned char c) { return c <= ' ' || c == 0x7f; }))
        return false;
    size_t end = text.find_first_of("/?#", start);
    std::string_view authority = text.substr(start, end == std::string_view::npos ? text.npos : end - start);
    return !authority.empty() && authority.find('@') == std::string_view::npos &&
           curlParsesWithHost(std::string(text));
}
const Rule<std::string> kWebhookUrl =
    textWhere("an http:// or https:// URL with a host (and no user:password@)", isWebhookUrl);
constexpr std::string_view kWebhookEvents[] = {"room.started", "room.idle", "connect", "close"};
bool isWebhookEvent(std::string_view text) {
    return std::find(std::begin(kWebhookEvents), std::end(kWebhookEvents), text) != std::end(kWebhookEvents);
}
const Rule<std::string> kWebhookEvent =
    textWhere("one of room.started, room.idle, connect, close", isWebhookEvent);

// ---------------------------------------------------------------------------------------------
// Environment variables in values.

struct Expanded {
    std::string text;
    bool fromEnvironment = false;  // a variable's value is part of `text`
};

bool isEnvNameStart(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}

// ${NAME} is the variable's value; ${NAME:-default} is the default when NAME is unset or empty;
// $${ is a literal ${. Anything else, a lone $ included, is kept as written. The value is never
// part of an error message: it may be a secret.
Result<Expanded> expandEnvironment(std::string_view text) {
    const Status malformed(Code::InvalidArgument,
                           "expected ${NAME} or ${NAME:-default}, NAME of A-Z a-z 0-9 _ not starting "
                           "with a digit (write $${ for a literal ${)");
    Expanded out;
    size_t i = 0;
    while (i < text.size()) {
        if (text.substr(i, 3) == "$${") {
            out.text += "${";
            i += 3;
            continue;
        }
        if (text.substr(i, 2) != "${") {
            out.text += text[i++];
            continue;
        }
        size_t close = text.find('}', i + 2);
        if (close == std::string_view::npos) return malformed;
        std::string_view inside = text.substr(i + 2, close - i - 2);
        size_t dash = inside.find(":-");
        std::string name(inside.substr(0, dash));
        if (name.empty() || !isEnvNameStart(name[0]) || !isMadeOf(name, "_", 255)) return malformed;
        const char* value = std::getenv(name.c_str());
        if (dash != std::string_view::npos && (value == nullptr || *value == '\0')) {
            std::string_view fallback = inside.substr(dash + 2);
            if (fallback.find("${") != std::string_view::npos) return malformed;
            out.text += fallback;
        } else if (value == nullptr) {
            return Status(Code::InvalidArgument, "environment variable " + name + " is not set (write ${" +
                                                     name + ":-default} to give a default)");
        } else {
            out.text += value;
            out.fromEnvironment = true;
        }
        i = close + 1;
    }
    return out;
}

Result<std::string> readFile(const std::string& path);

// ---------------------------------------------------------------------------------------------
// The reader: walks maps, tracks where each key was, and formats errors.

std::string joinPath(const std::string& parent, const std::string& name) {
    return parent.empty() ? name : parent + "." + name;
}

std::string describe(const YAML::Node& node) {
    if (node.IsMap()) return "a map";
    if (node.IsSequence()) return "a list";
    if (node.IsScalar()) return "'" + node.Scalar() + "'";
    return "nothing";
}

// One `key: value` pair. Errors point at the key's line: a null value's mark is the line of
// whatever follows it, and an alias's mark is where its anchor was defined.
struct Entry {
    std::string path;  // "limits.max_connections"
    int line;          // 1-based
    YAML::Node value;
};

std::string unknownKeyMessage(const std::string& path, const std::string& name,
                              const std::vector<std::string_view>& siblings);

class Reader {
   public:
    // `scriptFolder`: what a relative script path is joined to; none for text that is not a file,
    // whose script paths stay as written and are not looked for.
    Reader(const std::string& source, std::optional<std::filesystem::path> scriptFolder)
        : source_(source), scriptFolder_(std::move(scriptFolder)) {}

    // Records the error at `line` and returns it, so the caller stops using the value it was
    // reading; the error is reported once, with all the others, by errors().
    Status fail(int line, const std::string& message) {
        Status status(Code::InvalidArgument, source_ + ":" + std::to_string(line) + ": " + oneLine(message));
        errors_.push_back({line, status.message()});
        return status;
    }

    // Every error recorded, one a line, ordered by line (errors of one line in the order found);
    // an empty status when there were none.
    Status errors() const {
        if (errors_.empty()) return {};
        auto sorted = errors_;
        std::stable_sort(sorted.begin(), sorted.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        std::string message;
        for (const auto& [line, text] : sorted) message += (message.empty() ? "" : "\n") + text;
        return {Code::InvalidArgument, std::move(message)};
    }

    // True when none of `paths` had an error, so a rule that joins them compares values the file
    // really set (or defaults it left alone), not what a refused value left behind.
    bool readWell(std::initializer_list<std::string_view> paths) const {
        return std::none_of(paths.begin(), paths.end(),
                            [&](std::string_view path) { return failed_.count(std::string(path)) > 0; });
    }

    const std::optional<std::filesystem::path>& scriptFolder() const { return scriptFolder_; }

    // The line of the first of `paths` the file set, for rules that join two keys.
    int lineOf(std::initializer_list<std::string_view> paths) const {
        for (std::string_view path : paths) {
            if (auto it = lines_.find(std::string(path)); it != lines_.end()) return it->second;
        }
        return 1;
    }

    bool has(const std::string& path) const { return lines_.count(path) > 0; }

    // The scalar text of `entry` with environment variables replaced; notes the path when one was.
    Result<Expanded> text(const Entry& entry) {
        auto expanded = expandEnvironment(entry.value.Scalar());
        if (!expanded) return fail(entry.line, entry.path + ": " + expanded.status().message());
        if (expanded->fromEnvironment) fromEnvironment_.insert(entry.path);
        return expanded;
    }

    // The value `rule` makes of `entry`'s text. A bad value is quoted in the message unless it is
    // a Secret or came from the environment: then the message says <set>.
    template <class V>
    Result<V> read(const Entry& entry, const Rule<V>& rule) {
        if (!entry.value.IsScalar()) return expected(entry, rule.expected, describe(entry.value));
        auto expanded = text(entry);
        if (!expanded) return expanded.status();
        if (auto parsed = rule.parse(expanded->text)) return std::move(*parsed);
        bool hidden = std::is_same_v<V, Secret> || expanded->fromEnvironment;
        return expected(entry, rule.expected,
                        hidden && !expanded->text.empty() ? Secret::kShown : "'" + expanded->text + "'");
    }

    // A list whose items `rule` reads, at paths "key[0]", "key[1]"...; nothing reads as empty.
    template <class V>
    Result<std::vector<V>> readList(const Entry& entry, const Rule<V>& rule) {
        std::vector<V> items;
        if (entry.value.IsNull()) return items;
        if (!entry.value.IsSequence()) {
            bool hidden = std::is_same_v<V, Secret> && entry.value.IsScalar();
            return expected(entry, "a list of " + rule.expected,
                            hidden ? Secret::kShown : describe(entry.value));
        }
        // Each bad item is reported, so the list is read to its end.
        Status firstError;
        size_t index = 0;
        for (const auto& node : entry.value) {
            Entry item{entry.path + "[" + std::to_string(index++) + "]", node.Mark().line + 1, node};
            lines_[item.path] = item.line;
            auto value = read(item, rule);
            if (value)
                items.push_back(std::move(*value));
            else if (firstError.isOk())
                firstError = value.status();
        }
        if (!firstError.isOk()) return firstError;
        return items;
    }

    // `value` of the key at `path` for a message: "<set>" when it came from the environment.
    std::string shown(const std::string& path, const std::string& value) const {
        return fromEnvironment_.count(path) > 0 ? Secret::kShown : value;
    }

    std::set<std::string> takeFromEnvironment() { return std::move(fromEnvironment_); }
    std::map<std::string, int> takeLines() { return std::move(lines_); }

    // Calls `visit(entry, name)` for each pair of a map; a null value reads as an empty map so
    // a section whose keys are all commented out is still valid.
    // Every pair is visited whatever the others hold; the result is the first error among them,
    // already recorded, and an entry whose visit failed counts as not read well.
    template <class Visit>
    Status forEachEntry(const Entry& map, Visit&& visit) {
        if (map.value.IsNull()) return {};
        if (!map.value.IsMap())
            return fail(map.line, prefix(map.path) + "expected a map, got " + describe(map.value));
        std::set<std::string> names;
        Status firstError;
        auto note = [&](Status status) {
            if (firstError.isOk()) firstError = std::move(status);
        };
        for (const auto& pair : map.value) {
            int line = pair.first.Mark().line + 1;
            if (!pair.first.IsScalar()) {
                note(fail(line, prefix(map.path) + "expected a key, got " + describe(pair.first)));
                continue;
            }
            Entry entry{joinPath(map.path, pair.first.Scalar()), line, pair.second};
            if (!names.insert(pair.first.Scalar()).second) {
                note(fail(line, "duplicate key '" + entry.path + "'"));
                continue;
            }
            lines_[entry.path] = line;
            if (Status status = visit(entry, pair.first.Scalar()); !status) {
                failed_.insert(entry.path);
                note(std::move(status));
            }
        }
        return firstError;
    }

    // Reads a map whose keys must all be in `keys`, a schema table below.
    template <class Section, class Keys>
    Status readSection(const Entry& map, const Keys& keys, Section& into) {
        return forEachEntry(map, [&](const Entry& entry, const std::string& name) -> Status {
            auto key = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.name == name; });
            if (key != keys.end()) return key->read(*this, entry, into);
            std::vector<std::string_view> siblings;
            for (const auto& k : keys) siblings.push_back(k.name);
            return fail(entry.line, unknownKeyMessage(map.path, name, siblings));
        });
    }

   private:
    static std::string prefix(const std::string& path) { return path.empty() ? "" : path + ": "; }

    Status expected(const Entry& entry, const std::string& what, const std::string& got) {
        return fail(entry.line, entry.path + ": expected " + what + ", got " + got);
    }

    std::string source_;
    std::optional<std::filesystem::path> scriptFolder_;
    std::map<std::string, int> lines_;
    std::set<std::string> fromEnvironment_;
    std::vector<std::pair<int, std::string>> errors_;  // line, message
    std::set<std::string> failed_;                     // dotted paths whose reading failed
};

// ---------------------------------------------------------------------------------------------
// The schema: one table per section.

template <class Section>
struct Key {
    std::string_view name;
    std::function<Status(Reader&, const Entry&, Section&)> read;
};

template <class Section>
using Schema = std::vector<Key<Section>>;

// A key whose scalar value `rule` turns into `member`.
template <class Section, class V>
Key<Section> value(std::string_view name, V Section::*member, const Rule<V>& rule) {
    return {name, [member, &rule](Reader& reader, const Entry& entry, Section& into) -> Status {
                auto parsed = reader.read(entry, rule);
                if (!parsed) return parsed.status();
                into.*member = std::move(*parsed);
                return {};
            }};
}

// A key holding a list whose items `rule` reads.
template <class Section, class V>
Key<Section> list(std::string_view name, std::vector<V> Section::*member, const Rule<V>& rule) {
    return {name, [member, &rule](Reader& reader, const Entry& entry, Section& into) -> Status {
                auto parsed = reader.readList(entry, rule);
                if (!parsed) return parsed.status();
                into.*member = std::move(*parsed);
                return {};
            }};
}

// A key holding a nested map with its own schema.
template <class Section, class Inner>
Key<Section> section(std::string_view name, Inner Section::*member, const Schema<Inner>& schema) {
    return {name, [member, &schema](Reader& reader, const Entry& entry, Section& into) {
                return reader.readSection(entry, schema, into.*member);
            }};
}

const Schema<Limits> kLimitsSchema = {
    value("max_connections", &Limits::max_connections, kCount),
    value("max_message_bytes", &Limits::max_message_bytes, kByteSize),
    value("send_buffer_bytes", &Limits::send_buffer_bytes, kByteSize),
    value("lua_memory_bytes", &Limits::lua_memory_bytes, kByteSize),
    value("lua_instructions_per_call", &Limits::lua_instructions_per_call, kLargeCount),
    value("lua_cpu_ms_per_call", &Limits::lua_cpu_ms_per_call, kLargeCount),
    value("idle_room_seconds", &Limits::idle_room_seconds, kWholeSeconds),
    value("ping_interval_seconds", &Limits::ping_interval_seconds, kWholeSeconds),
    value("ping_timeout_seconds", &Limits::ping_timeout_seconds, kWholeSeconds),
    value("max_messages_per_second", &Limits::max_messages_per_second, kCountOrZero),
    value("message_burst", &Limits::message_burst, kCount),
    value("http_threads", &Limits::http_threads, kHttpThreads),
    value("drain_seconds", &Limits::drain_seconds, kWholeSeconds),
    value("storage_value_bytes", &Limits::storage_value_bytes, kByteSize),
    value("header_timeout_ms", &Limits::header_timeout_ms, kTimeoutMs),
    value("body_timeout_ms", &Limits::body_timeout_ms, kTimeoutMs),
    value("max_connections_per_ip", &Limits::max_connections_per_ip, kCountOrZero),
    value("max_new_connections_per_ip_per_second", &Limits::max_new_connections_per_ip_per_second,
          kCountOrZero),
    value("max_http_workers_per_ip", &Limits::max_http_workers_per_ip, kCountOrZero),
    value("max_headers", &Limits::max_headers, kMaxHeaders),
    // A bounded log.
    value("max_history_page_bytes", &Limits::max_history_page_bytes, kByteSize),
    value("max_write_bytes_per_second_per_ip", &Limits::max_write_bytes_per_second_per_ip, kByteSizeOrZero),
    value("max_pending_input_bytes", &Limits::max_pending_input_bytes, kByteSize),
    value("message_timeout_ms", &Limits::message_timeout_ms, kTimeoutMs),
    value("max_rooms", &Limits::max_rooms, kCount),
    value("max_new_rooms_per_ip_per_second", &Limits::max_new_rooms_per_ip_per_second, kCountOrZero),
    value("new_room_burst", &Limits::new_room_burst, kCount),
    value("max_rooms_per_connection", &Limits::max_rooms_per_connection, kRoomsPerConnection),
};

const Schema<LogConfig> kLogSchema = {
    value("level", &LogConfig::level, kLogLevel),
    value("format", &LogConfig::format, kLogFormat),
};

const Schema<NatsConfig> kNatsSchema = {
    value("url", &NatsConfig::url, kNatsUrl),
    value("stream", &NatsConfig::stream, kStreamName),
    value("replicas", &NatsConfig::replicas, kReplicas),
    value("partitions", &NatsConfig::partitions, kPartitions),
    value("storage", &NatsConfig::storage, kLogStorage),
    value("max_age", &NatsConfig::max_age, kPositiveDuration),
    value("max_msgs_per_room", &NatsConfig::max_msgs_per_room, kMessageCap),
    value("subject_prefix", &NatsConfig::subject_prefix, kSubjectPrefix),
    value("storage_bucket", &NatsConfig::storage_bucket, kBucketName),
    value("alarm_bucket", &NatsConfig::alarm_bucket, kBucketName),
    value("duplicate_window", &NatsConfig::duplicate_window, kDuplicateWindow),
    // A bounded log.
    value("max_bytes", &NatsConfig::max_bytes, kByteSize),
    value("max_msg_size", &NatsConfig::max_msg_size, kByteSize),
    value("batch_reads", &NatsConfig::batch_reads, kBoolean),
};

bool isRouterStrategy(std::string_view text) {
    return text == "random" || text == "round-robin" || text == "least-connections" || text == "hash";
}
const Rule<std::string> kRouterStrategy =
    textWhere("one of random, round-robin, least-connections, hash", isRouterStrategy);
bool isPresenceMode(std::string_view text) {
    return text == "list" || text == "count";
}
const Rule<std::string> kPresenceMode = textWhere("list or count", isPresenceMode);
const Rule<size_t> kShardCount = integerIn<size_t>(1, 1000, "an integer from 1 to 1000");

const Schema<RouterConfig> kRouterSchema = {
    value("target", &RouterConfig::target, kNonEmptyText),
    value("shards", &RouterConfig::shards, kShardCount),
    value("strategy", &RouterConfig::strategy, kRouterStrategy),
};

const Schema<ApiConfig> kApiSchema = {
    list("keys", &ApiConfig::keys, kApiKey),
    value("insecure", &ApiConfig::insecure, kBoolean),
};

const Schema<JwtConfig> kJwtSchema = {
    value("secret", &JwtConfig::secret, kJwtSecret),
    value("public_key", &JwtConfig::public_key, kNonEmptyText),
    list("algorithms", &JwtConfig::algorithms, kJwtAlgorithm),
    value("audience", &JwtConfig::audience, kNonEmptyText),
    value("issuer", &JwtConfig::issuer, kNonEmptyText),
    value("leeway_seconds", &JwtConfig::leeway_seconds, kLeeway),
};

const Schema<AuthConfig> kAuthSchema = {
    section("jwt", &AuthConfig::jwt, kJwtSchema),
    value("required", &AuthConfig::required, kBoolean),
};

// Variable names are map keys, so they are checked here; every value is a Secret.
Status readEnv(Reader& reader, const Entry& env, PartyConfig& party) {
    if (env.value.IsScalar())
        return reader.fail(env.line, env.path + ": expected a map of NAME: value, got " + Secret::kShown);
    return reader.forEachEntry(env, [&](const Entry& entry, const std::string& name) -> Status {
        if (!isEnvName(name))
            return reader.fail(entry.line, env.path +
                                               ": expected a name of 1 to 128 characters of A-Z a-z 0-9 _, "
                                               "not starting with a digit, got '" +
                                               name + "'");
        auto value = reader.read(entry, kEnvValue);
        if (!value) return value.status();
        party.env[name] = std::move(*value);
        return {};
    });
}

// The PEM text of a public key file: a private key is refused, since the node needs only the
// public half and should not hold the other.
Result<std::string> readPublicKey(const std::string& path, const std::string& shownPath) {
    std::error_code error;
    auto status = std::filesystem::status(path, error);
    if (!std::filesystem::exists(status)) return Status(Code::NotFound, "no such file '" + shownPath + "'");
    if (!std::filesystem::is_regular_file(status))
        return Status(Code::InvalidArgument, "'" + shownPath + "' is not a file");
    if (std::filesystem::file_size(path, error) > 64 * 1024)
        return Status(Code::InvalidArgument, "'" + shownPath + "' is over 64 KiB, not a public key");
    auto text = readFile(path);
    if (!text) return Status(Code::InvalidArgument, "cannot read '" + shownPath + "'");
    if (text->find("-----BEGIN ") == std::string::npos)
        return Status(Code::InvalidArgument, "'" + shownPath + "' is not a PEM file (no -----BEGIN line)");
    if (text->find("PRIVATE KEY-----") != std::string::npos)
        return Status(Code::InvalidArgument, "'" + shownPath +
                                                 "' holds a private key; give its public key "
                                                 "(openssl pkey -in KEY -pubout)");
    return text;
}

// The rules between jwt's keys: one kind of key, algorithms that fit it (so an RS256 public key
// can never be used as an HMAC secret), and HMAC secrets long enough for their hash.
Status checkJwt(Reader& reader, const Entry& auth, JwtConfig& jwt) {
    const std::string path = auth.path + ".jwt";
    auto lineOf = [&](const std::string& key) { return reader.lineOf({key, path, auth.path}); };
    if (!reader.has(path)) return reader.fail(auth.line, auth.path + ": missing required key 'jwt'");
    bool hasSecret = reader.has(path + ".secret"), hasKey = reader.has(path + ".public_key");
    if (hasSecret && hasKey)
        return reader.fail(lineOf(path + ".public_key"),
                           path + ": secret and public_key exclude each other; give one");
    if (!hasSecret && !hasKey)
        return reader.fail(lineOf(path), path +
                                             ": needs 'secret' (for HS256, HS384, HS512) or 'public_key' (a "
                                             "PEM file, for RS256, ES256, EdDSA)");
    if (!reader.has(path + ".algorithms"))
        return reader.fail(lineOf(path), path + ": missing required key 'algorithms'");
    if (jwt.algorithms.empty())
        return reader.fail(lineOf(path + ".algorithms"),
                           path + ".algorithms: expected at least one algorithm");
    size_t keyBytes = 0;
    std::string longest;
    for (size_t i = 0; i < jwt.algorithms.size(); ++i) {
        const std::string& algorithm = jwt.algorithms[i];
        std::string item = path + ".algorithms[" + std::to_string(i) + "]";
        bool hmac = hmacKeyBytes(algorithm) > 0;
        if (hmac && !hasSecret)
            return reader.fail(lineOf(item), item + ": " + algorithm + " needs secret, not public_key");
        if (!hmac && hasSecret)
            return reader.fail(lineOf(item), item + ": " + algorithm + " needs public_key, not secret");
        if (hmacKeyBytes(algorithm) > keyBytes) keyBytes = hmacKeyBytes(algorithm), longest = algorithm;
    }
    if (hasSecret && jwt.secret.reveal().size() < keyBytes)
        return reader.fail(lineOf(path + ".secret"), path + ".secret: " + longest +
                                                         " needs a secret of at least " +
                                                         std::to_string(keyBytes) + " bytes (RFC 7518, 3.2)");
    if (hasKey) {
        auto pem = readPublicKey(jwt.public_key, reader.shown(path + ".public_key", jwt.public_key));
        if (!pem)
            return reader.fail(lineOf(path + ".public_key"), path + ".public_key: " + pem.status().message());
        jwt.public_key_pem = std::move(*pem);
    }
    return {};
}

Status readAuth(Reader& reader, const Entry& entry, PartyConfig& party) {
    AuthConfig auth;
    if (Status status = reader.readSection(entry, kAuthSchema, auth); !status) return status;
    if (Status status = checkJwt(reader, entry, auth.jwt); !status) return status;
    party.auth = std::move(auth);
    return {};
}

const Schema<PartyFetchConfig> kPartyFetchSchema = {
    list("allow", &PartyFetchConfig::allow, kFetchAllowEntry),
};

Status readPartyFetch(Reader& reader, const Entry& entry, PartyConfig& party) {
    PartyFetchConfig fetch;
    if (Status status = reader.readSection(entry, kPartyFetchSchema, fetch); !status) return status;
    party.fetch = std::move(fetch);
    return {};
}

const Schema<WebhookConfig> kWebhookSchema = {
    value("url", &WebhookConfig::url, kWebhookUrl),
    list("events", &WebhookConfig::events, kWebhookEvent),
    value("secret", &WebhookConfig::secret, kJwtSecret),
};

// url and secret are required: an event without a signature could come from anyone.
Status readWebhook(Reader& reader, const Entry& entry, PartyConfig& party) {
    WebhookConfig webhook;
    if (Status status = reader.readSection(entry, kWebhookSchema, webhook); !status) return status;
    Status missing;
    for (const char* key : {"url", "secret"}) {
        if (!reader.has(entry.path + "." + key))
            missing = reader.fail(entry.line, entry.path + ": missing required key '" + key + "'");
    }
    if (!missing.isOk()) return missing;
    if (!reader.has(entry.path + ".events"))
        webhook.events.assign(std::begin(kWebhookEvents), std::end(kWebhookEvents));
    party.webhook = std::move(webhook);
    return {};
}

// libcurl reads the CA file at each call: a missing or wrong file is found at start instead.
Status readCaFile(Reader& reader, const Entry& entry, FetchConfig& fetch) {
    auto path = reader.read(entry, kNonEmptyText);
    if (!path) return path.status();
    const std::string shownPath = reader.shown(entry.path, *path);
    std::error_code error;
    auto status = std::filesystem::status(*path, error);
    if (!std::filesystem::exists(status))
        return reader.fail(entry.line, entry.path + ": no such file '" + shownPath + "'");
    if (!std::filesystem::is_regular_file(status) ||
        std::filesystem::file_size(*path, error) > 16 * 1024 * 1024)
        return reader.fail(entry.line, entry.path + ": '" + shownPath + "' is not a CA file");
    auto text = readFile(*path);
    if (!text) return reader.fail(entry.line, entry.path + ": cannot read '" + shownPath + "'");
    if (text->find("-----BEGIN CERTIFICATE-----") == std::string::npos)
        return reader.fail(entry.line,
                           entry.path + ": '" + shownPath +
                               "' holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)");
    fetch.ca_file = std::move(*path);
    return {};
}

const Schema<FetchConfig> kFetchSchema = {
    list("allow", &FetchConfig::allow, kFetchAllowEntry),
    value("timeout_ms", &FetchConfig::timeout_ms, kFetchTimeout),
    value("max_response_bytes", &FetchConfig::max_response_bytes, kByteSize),
    value("max_in_flight", &FetchConfig::max_in_flight, kFetchInFlight),
    value("max_redirects", &FetchConfig::max_redirects, kFetchRedirects),
    {"ca_file", readCaFile},
};

const Schema<PartyConfig> kPartySchema = {
    value("script", &PartyConfig::script, kNonEmptyText),
    value("storage", &PartyConfig::storage, kBoolean),
    value("presence", &PartyConfig::presence, kPresenceMode),
    section("router", &PartyConfig::router, kRouterSchema),
    {"env", readEnv},
    {"auth", readAuth},
    {"fetch", readPartyFetch},
    {"webhook", readWebhook},
};

// A relative script path is relative to the configuration file's folder, so a file names its
// scripts the same way from any working directory; `script` becomes the path the node reads. The
// file must exist: serve and check-config refuse a configuration naming one that does not.
Status resolveScript(Reader& reader, const Entry& party, std::string& script) {
    if (!reader.scriptFolder() || script.empty()) return {};
    const std::filesystem::path written(script);
    const std::filesystem::path path = written.is_absolute() ? written : *reader.scriptFolder() / written;
    std::error_code error;
    if (std::filesystem::exists(path, error)) {
        script = path.string();
        return {};
    }
    const std::string key = party.path + ".script";
    std::string message = key + ": no such file '" + reader.shown(key, script) + "'";
    if (!written.is_absolute())
        message += " (relative to " + reader.scriptFolder()->string() + ", the configuration file's folder)";
    return reader.fail(reader.lineOf({key, party.path}), message);
}

Status readParty(Reader& reader, const Entry& entry, const std::string& name, PartyConfig& party) {
    party.name = name;
    if (Status status = reader.readSection(entry, kPartySchema, party); !status) return status;
    bool router = party.router.shards > 0 || !party.router.target.empty();
    if (router && !party.script.empty())
        return reader.fail(entry.line, entry.path + ": a party has either a script or a router, not both");
    if (router && (party.router.target.empty() || party.router.shards == 0))
        return reader.fail(entry.line, entry.path + ".router: needs both 'target' and 'shards'");
    if (!router && party.script.empty())
        return reader.fail(entry.line, entry.path + ": missing required key 'script'");
    if (router && party.presence != "list")
        return reader.fail(
            reader.lineOf({entry.path + ".presence", entry.path}),
            entry.path + ".presence: a router party announces no presence: set it on its target party");
    return resolveScript(reader, entry, party.script);
}

// Party names are map keys, not schema keys, and each party needs its script.
Status readParties(Reader& reader, const Entry& parties, Config& config) {
    std::map<std::string, int> routerLines;
    Status status = reader.forEachEntry(parties, [&](const Entry& entry, const std::string& name) -> Status {
        if (!isPartyName(name)) {
            return reader.fail(entry.line, parties.path +
                                               ": expected a party name of 1 to 64 characters of " +
                                               "A-Z a-z 0-9 _ -, got '" + name + "'");
        }
        PartyConfig party;
        if (Status status = readParty(reader, entry, name, party); !status) return status;
        routerLines[name] = entry.line;
        config.parties[name] = std::move(party);
        return {};
    });
    // Targets are checked once every party is known, so order does not matter. A target the file
    // names as a party that had errors is already reported.
    for (const auto& [name, party] : config.parties) {
        if (party.router.shards == 0) continue;
        auto target = config.parties.find(party.router.target);
        bool readBadly = !reader.readWell({parties.path + "." + party.router.target});
        if (target == config.parties.end() ? readBadly : target->second.router.shards == 0) continue;
        Status bad =
            reader.fail(routerLines[name], parties.path + "." + name +
                                               ".router.target: expected a party with a script, got '" +
                                               party.router.target + "'");
        if (status.isOk()) status = bad;
    }
    return status;
}

const Schema<Config> kConfigSchema = {
    value("listen", &Config::listen, kListenAddress),
    value("node_id", &Config::node_id, kNodeId),
    value("data_dir", &Config::data_dir, kNonEmptyText),
    section("nats", &Config::nats, kNatsSchema),
    {"parties", readParties},
    section("limits", &Config::limits, kLimitsSchema),
    section("log", &Config::log, kLogSchema),
    section("api", &Config::api, kApiSchema),
    list("origins", &Config::origins, kOrigin),
    list("trusted_proxies", &Config::trusted_proxies, kAddressRange),
    value("ops_listen", &Config::ops_listen, kOpsListenAddress),
    section("fetch", &Config::fetch, kFetchSchema),
};

// "2m" for 120 s: the largest unit that divides the duration, as the file would say it.
std::string formatDuration(seconds duration) {
    constexpr std::pair<int64_t, const char*> kUnits[] = {{86400, "d"}, {3600, "h"}, {60, "m"}};
    for (const auto& [unit, name] : kUnits) {
        if (duration.count() > 0 && duration.count() % unit == 0)
            return std::to_string(duration.count() / unit) + name;
    }
    return std::to_string(duration.count()) + "s";
}

// insecure with keys would leave the reader to guess which one wins.
void checkApi(Reader& reader, const ApiConfig& api) {
    if (!reader.readWell({"api.insecure", "api.keys"})) return;
    if (api.insecure && !api.keys.empty())
        reader.fail(reader.lineOf({"api.insecure"}),
                    "api.insecure: true opens the control API to every peer, yet api.keys are set; "
                    "remove one of them");
    for (size_t i = 0; i < api.keys.size(); ++i) {
        for (size_t j = 0; j < i; ++j) {
            if (api.keys[i] != api.keys[j]) continue;
            std::string path = "api.keys[" + std::to_string(i) + "]";
            reader.fail(reader.lineOf({path, "api.keys"}),
                        path + ": the same key as api.keys[" + std::to_string(j) + "]");
            break;
        }
    }
}

// A fetch answer lives in the shard's Lua heap; a party's list can only narrow the node's.
void checkFetch(Reader& reader, const Config& config) {
    if (reader.readWell({"fetch.max_response_bytes", "limits.lua_memory_bytes"}) &&
        config.fetch.max_response_bytes > config.limits.lua_memory_bytes) {
        int line = reader.lineOf({"fetch.max_response_bytes", "limits.lua_memory_bytes"});
        reader.fail(line, "fetch.max_response_bytes (" + std::to_string(config.fetch.max_response_bytes) +
                              ") must not exceed limits.lua_memory_bytes (" +
                              std::to_string(config.limits.lua_memory_bytes) +
                              "): an answer is held in the room's Lua heap");
    }
    if (!config.fetch.allow.empty() || !reader.readWell({"fetch.allow"})) return;
    for (const auto& [name, party] : config.parties) {
        if (!party.fetch || party.fetch->allow.empty()) continue;
        std::string path = "parties." + name + ".fetch.allow";
        reader.fail(reader.lineOf({path, "parties." + name + ".fetch"}),
                    path +
                        ": fetch.allow is empty, so no host may be called; a party's list only "
                        "narrows fetch.allow, so list the hosts there too");
    }
}

// The stream must store every write the node accepts, and JetStream takes a message size cap of
// at most 2^31 - 1 that is no larger than the stream. One error at most: the rules share keys.
Status checkLogBounds(Reader& reader, const Config& config) {
    const NatsConfig& nats = config.nats;
    if (!reader.readWell(
            {"nats.max_msg_size", "nats.max_bytes", "limits.max_message_bytes", "nats.partitions"}))
        return {};
    const int line = reader.lineOf({"nats.max_msg_size", "nats.max_bytes", "limits.max_message_bytes"});
    if (nats.max_msg_size < config.limits.max_message_bytes)
        return reader.fail(line, "nats.max_msg_size (" + std::to_string(nats.max_msg_size) +
                                     ") must be at least limits.max_message_bytes (" +
                                     std::to_string(config.limits.max_message_bytes) +
                                     "), or the log would refuse writes the node accepts");
    if (nats.max_msg_size > size_t(std::numeric_limits<int32_t>::max()))
        return reader.fail(line, "nats.max_msg_size (" + std::to_string(nats.max_msg_size) +
                                     ") must be under 2 GiB, JetStream's limit");
    if (nats.max_bytes > size_t(std::numeric_limits<int64_t>::max()))
        return reader.fail(line, "nats.max_bytes (" + std::to_string(nats.max_bytes) + ") is too large");
    if (nats.partitions == 1 && nats.max_msg_size > nats.max_bytes)
        return reader.fail(line, "nats.max_msg_size (" + std::to_string(nats.max_msg_size) +
                                     ") must not be larger than nats.max_bytes (" +
                                     std::to_string(nats.max_bytes) + ")");
    // Each partition's stream is capped at its share of max_bytes.
    if (nats.partitions > 1 && nats.max_msg_size > nats.max_bytes / size_t(nats.partitions))
        return reader.fail(reader.lineOf({"nats.max_msg_size", "nats.max_bytes", "nats.partitions"}),
                           "nats.max_msg_size (" + std::to_string(nats.max_msg_size) +
                               ") must not be larger than each partition's share of nats.max_bytes (" +
                               std::to_string(nats.max_bytes) + " / " + std::to_string(nats.partitions) +
                               " partitions = " + std::to_string(nats.max_bytes / size_t(nats.partitions)) +
                               ")");
    return {};
}

// Rules that join two keys, checked after every key is read so their order in the file does not
// matter. Each is independent of the others, so each reports its own error; a rule over a key
// that had an error is skipped.
void checkTogether(Reader& reader, const Config& config) {
    const Limits& limits = config.limits;
    if (reader.readWell({"limits.ping_timeout_seconds", "limits.ping_interval_seconds"}) &&
        limits.ping_timeout_seconds <= limits.ping_interval_seconds) {
        int line = reader.lineOf({"limits.ping_timeout_seconds", "limits.ping_interval_seconds"});
        reader.fail(line, "limits.ping_timeout_seconds (" +
                              std::to_string(limits.ping_timeout_seconds.count()) +
                              ") must be greater than limits.ping_interval_seconds (" +
                              std::to_string(limits.ping_interval_seconds.count()) + ")");
    }
    if (reader.readWell({"nats.alarm_bucket", "nats.storage_bucket"}) &&
        config.nats.storage_bucket == config.nats.alarm_bucket) {
        int line = reader.lineOf({"nats.alarm_bucket", "nats.storage_bucket"});
        reader.fail(line, "nats.alarm_bucket and nats.storage_bucket must differ, both are '" +
                              reader.shown("nats.alarm_bucket", config.nats.alarm_bucket) + "'");
    }
    // nats-server refuses a stream whose duplicate window is longer than its retention.
    if (reader.readWell({"nats.duplicate_window", "nats.max_age"}) &&
        config.nats.duplicate_window > config.nats.max_age) {
        int line = reader.lineOf({"nats.duplicate_window", "nats.max_age"});
        reader.fail(line,
                    "nats.duplicate_window (" +
                        reader.shown("nats.duplicate_window", formatDuration(config.nats.duplicate_window)) +
                        ") must not be longer than nats.max_age (" +
                        reader.shown("nats.max_age", formatDuration(config.nats.max_age)) + ")");
    }
    checkLogBounds(reader, config);
    checkFetch(reader, config);
    checkApi(reader, config.api);
}

// ---------------------------------------------------------------------------------------------
// Suggestions for unknown keys.

// Optimal string alignment distance: a swapped pair of letters counts as one typo.
size_t editDistance(std::string_view a, std::string_view b) {
    std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
    for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
        for (size_t j = 1; j <= b.size(); ++j) {
            size_t substitution = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, substitution});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

// A key set at the wrong indentation is a known key in another section: name its full path.
std::optional<std::string> keyElsewhere(std::string_view name) {
    auto search = [&](std::string_view sectionName, const auto& schema) -> std::optional<std::string> {
        for (const auto& key : schema) {
            if (key.name == name)
                return (sectionName.empty() ? "" : std::string(sectionName) + ".") + std::string(name);
        }
        return std::nullopt;
    };
    if (auto found = search("", kConfigSchema)) return found;
    if (auto found = search("nats", kNatsSchema)) return found;
    if (auto found = search("log", kLogSchema)) return found;
    if (auto found = search("api", kApiSchema)) return found;
    if (auto found = search("fetch", kFetchSchema)) return found;
    return search("limits", kLimitsSchema);
}

std::string unknownKeyMessage(const std::string& path, const std::string& name,
                              const std::vector<std::string_view>& siblings) {
    std::string message = "unknown key '" + joinPath(path, name) + "'";
    std::string_view closest;
    size_t best = std::numeric_limits<size_t>::max();
    for (std::string_view sibling : siblings) {
        size_t distance = editDistance(name, sibling);
        if (distance < best) {
            best = distance;
            closest = sibling;
        }
    }
    if (best <= 2 && best * 2 < closest.size())
        return message + "; did you mean '" + std::string(closest) + "'?";
    if (auto elsewhere = keyElsewhere(name)) return message + "; did you mean '" + *elsewhere + "'?";
    return message;
}

// ---------------------------------------------------------------------------------------------
// Files and documents.

// The documents of a YAML stream, as yaml-cpp's parser reports them: where each starts, and where
// its first node is (the line an error about it names).
class DocumentMarks final : public YAML::EventHandler {
   public:
    struct Document {
        YAML::Mark start;
        YAML::Mark firstNode;
    };
    std::vector<Document> documents;

    void OnDocumentStart(const YAML::Mark& mark) override { documents.push_back({mark, mark}); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { node(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
        node(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
        node(mark);
    }
    void OnMapEnd() override {}

   private:
    void node(const YAML::Mark& mark) {
        if (nodes_ < documents.size()) documents[nodes_++].firstNode = mark;
    }
    size_t nodes_ = 0;  // documents whose first node was seen
};

// yaml-cpp 0.7 never consumes a token that no rule takes at the top of a document (a stray ','):
// its LoadAll asks for the next document again and again, each a null node, until memory runs
// out. So the documents are first walked with the parser, stopping when one starts where the
// previous one did, and the single document is loaded only once the stream is known to be good.
Status checkOneDocument(const std::string& yaml, const std::string& source) {
    std::istringstream in(yaml);
    YAML::Parser parser(in);
    DocumentMarks marks;
    while (parser.HandleNextDocument(marks)) {
        auto& documents = marks.documents;
        if (documents.size() < 2) continue;
        const YAML::Mark& stuck = documents.back().start;
        if (stuck.pos <= documents[documents.size() - 2].start.pos) {
            std::string what =
                size_t(stuck.pos) < yaml.size() ? "'" + oneLine(yaml.substr(stuck.pos, 1)) + "'" : "end";
            return {Code::InvalidArgument, source + ":" + std::to_string(stuck.line + 1) +
                                               ": YAML syntax error: unexpected " + what};
        }
    }
    if (marks.documents.size() > 1) {
        int line = std::max(1, marks.documents[1].firstNode.line + 1);
        return {Code::InvalidArgument, source + ":" + std::to_string(line) +
                                           ": expected one YAML document, found " +
                                           std::to_string(marks.documents.size())};
    }
    return {};
}

Result<YAML::Node> loadDocument(const std::string& yaml, const std::string& source) {
    try {
        if (Status one = checkOneDocument(yaml, source); !one) return one;
        return YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
        std::string line = e.mark.is_null() ? "" : std::to_string(e.mark.line + 1) + ":";
        return Status(Code::InvalidArgument, source + ":" + line + " YAML syntax error: " + oneLine(e.msg));
    }
}

Status cannotRead(const std::string& path, std::error_code error) {
    Code code = error == std::errc::no_such_file_or_directory ? Code::NotFound : Code::InvalidArgument;
    return {code, "cannot read " + path + ": " + error.message()};
}

Result<std::string> readFile(const std::string& path) {
    std::error_code error;
    // An ifstream opens a directory and reads it as empty: that would pass as all defaults.
    if (std::filesystem::is_directory(path, error))
        return cannotRead(path, make_error_code(std::errc::is_a_directory));
    std::ifstream in(path, std::ios::binary);
    if (!in) return cannotRead(path, {errno, std::generic_category()});
    std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    if (in.bad()) return cannotRead(path, {errno, std::generic_category()});
    return text;
}

// Reads every key of `yaml` and checks the rules between them, reporting every error at once.
Result<Config> parseConfig(const std::string& yaml, const std::string& sourceName,
                           std::optional<std::filesystem::path> scriptFolder) {
    auto document = loadDocument(yaml, sourceName);
    if (!document) return document.status();
    Config config;
    config.source = sourceName;
    Reader reader(sourceName, std::move(scriptFolder));
    Entry root{"", std::max(1, document->Mark().line + 1), *document};
    reader.readSection(root, kConfigSchema, config);
    // JetStream's own default: a window no longer than the stream's retention.
    if (!reader.has("nats.duplicate_window"))
        config.nats.duplicate_window = std::min(config.nats.duplicate_window, config.nats.max_age);
    // The stream stores the largest write the node accepts, with its headers.
    if (!reader.has("nats.max_msg_size"))
        config.nats.max_msg_size = config.limits.max_message_bytes + NatsConfig::kMaxMsgSizeHeadroom;
    checkTogether(reader, config);
    if (Status errors = reader.errors(); !errors) return errors;
    config.from_environment = reader.takeFromEnvironment();
    config.lines = reader.takeLines();
    return config;
}

}  // namespace

Result<Config> Config::load(const std::string& path) {
    auto text = readFile(path);
    if (!text) return text.status();
    // The folder as the path names it, without resolving links: a script beside a linked
    // configuration is found where the configuration's own path says it is.
    std::error_code error;
    auto folder = std::filesystem::absolute(path, error).parent_path();
    if (error) return cannotRead(path, error);
    return parseConfig(*text, path, std::move(folder));
}

Result<Config> Config::parse(const std::string& yaml, const std::string& sourceName) {
    return parseConfig(yaml, sourceName, std::nullopt);
}

std::string Config::shown(const std::string& path, const std::string& value) const {
    return from_environment.count(path) > 0 ? Secret::kShown : value;
}

namespace {

// Writes a configuration as YAML, each value under its dotted path so that values taken from
// the environment can be shown as <set>.
class Describer {
   public:
    explicit Describer(const Config& config) : config_(config) {}

    std::string yaml() {
        const Config& c = config_;
        out_ << YAML::BeginMap;
        put("listen", c.listen);
        put("node_id", c.node_id);
        put("data_dir", c.data_dir);
        open("nats");
        put("url", c.nats.url);
        put("stream", c.nats.stream);
        put("replicas", std::to_string(c.nats.replicas));
        put("partitions", std::to_string(c.nats.partitions));
        put("storage", c.nats.storage);
        put("max_age", formatDuration(c.nats.max_age));
        put("max_msgs_per_room", std::to_string(c.nats.max_msgs_per_room));
        put("subject_prefix", c.nats.subject_prefix);
        put("storage_bucket", c.nats.storage_bucket);
        put("alarm_bucket", c.nats.alarm_bucket);
        put("duplicate_window", formatDuration(c.nats.duplicate_window));
        put("max_bytes", std::to_string(c.nats.max_bytes));
        put("max_msg_size", std::to_string(c.nats.max_msg_size));
        put("batch_reads", flag(c.nats.batch_reads));
        close();
        open("api");
        list("keys", c.api.keys);
        put("insecure", flag(c.api.insecure));
        close();
        list("origins", c.origins);
        list("trusted_proxies", c.trusted_proxies);
        put("ops_listen", c.ops_listen);
        open("fetch");
        list("allow", c.fetch.allow);
        put("timeout_ms", std::to_string(c.fetch.timeout_ms));
        put("max_response_bytes", std::to_string(c.fetch.max_response_bytes));
        put("max_in_flight", std::to_string(c.fetch.max_in_flight));
        put("max_redirects", std::to_string(c.fetch.max_redirects));
        if (!c.fetch.ca_file.empty()) put("ca_file", c.fetch.ca_file);
        close();
        open("parties");
        for (const auto& [name, party] : c.parties) describe(name, party);
        close();
        describe(c.limits);
        open("log");
        put("level", c.log.level);
        put("format", c.log.format);
        close();
        out_ << YAML::EndMap;
        return std::string(out_.c_str()) + "\n";
    }

   private:
    static std::string flag(bool value) { return value ? "true" : "false"; }
    std::string path(std::string_view key) const {
        return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
    }

    void put(std::string_view key, const std::string& text) {
        out_ << YAML::Key << std::string(key) << YAML::Value << config_.shown(path(key), text);
    }
    void put(std::string_view key, const Secret&) {
        out_ << YAML::Key << std::string(key) << YAML::Value << Secret::kShown;
    }
    template <class V>
    void list(std::string_view key, const std::vector<V>& items) {
        out_ << YAML::Key << std::string(key) << YAML::Value << YAML::Flow << YAML::BeginSeq;
        for (size_t i = 0; i < items.size(); ++i) {
            if constexpr (std::is_same_v<V, Secret>)
                out_ << Secret::kShown;
            else
                out_ << config_.shown(path(key) + "[" + std::to_string(i) + "]", items[i]);
        }
        out_ << YAML::EndSeq;
    }
    void open(std::string_view key) {
        out_ << YAML::Key << std::string(key) << YAML::Value << YAML::BeginMap;
        prefixes_.push_back(prefix_);
        prefix_ = path(key);
    }
    void close() {
        out_ << YAML::EndMap;
        prefix_ = prefixes_.back();
        prefixes_.pop_back();
    }

    void describe(const std::string& name, const PartyConfig& party) {
        open(name);
        if (party.router.shards > 0) {
            open("router");
            put("target", party.router.target);
            put("shards", std::to_string(party.router.shards));
            put("strategy", party.router.strategy);
            close();
        } else {
            put("script", party.script);
            put("storage", flag(party.storage));
            put("presence", party.presence);
        }
        if (!party.env.empty()) {
            open("env");
            for (const auto& [variable, value] : party.env) put(variable, value);
            close();
        }
        if (party.auth) {
            const JwtConfig& jwt = party.auth->jwt;
            open("auth");
            open("jwt");
            if (!jwt.secret.empty()) put("secret", jwt.secret);
            if (!jwt.public_key.empty()) put("public_key", jwt.public_key);
            list("algorithms", jwt.algorithms);
            if (!jwt.audience.empty()) put("audience", jwt.audience);
            if (!jwt.issuer.empty()) put("issuer", jwt.issuer);
            put("leeway_seconds", std::to_string(jwt.leeway_seconds.count()));
            close();
            put("required", flag(party.auth->required));
            close();
        }
        if (party.fetch) {
            open("fetch");
            list("allow", party.fetch->allow);
            close();
        }
        if (party.webhook) {
            open("webhook");
            put("url", party.webhook->url);
            list("events", party.webhook->events);
            put("secret", party.webhook->secret);
            close();
        }
        close();
    }

    void describe(const Limits& limits) {
        open("limits");
        put("max_connections", std::to_string(limits.max_connections));
        put("max_message_bytes", std::to_string(limits.max_message_bytes));
        put("send_buffer_bytes", std::to_string(limits.send_buffer_bytes));
        put("lua_memory_bytes", std::to_string(limits.lua_memory_bytes));
        put("lua_instructions_per_call", std::to_string(limits.lua_instructions_per_call));
        put("lua_cpu_ms_per_call", std::to_string(limits.lua_cpu_ms_per_call));
        put("idle_room_seconds", std::to_string(limits.idle_room_seconds.count()));
        put("ping_interval_seconds", std::to_string(limits.ping_interval_seconds.count()));
        put("ping_timeout_seconds", std::to_string(limits.ping_timeout_seconds.count()));
        put("max_messages_per_second", std::to_string(limits.max_messages_per_second));
        put("message_burst", std::to_string(limits.message_burst));
        put("http_threads", std::to_string(limits.http_threads));
        put("drain_seconds", std::to_string(limits.drain_seconds.count()));
        put("storage_value_bytes", std::to_string(limits.storage_value_bytes));
        put("header_timeout_ms", std::to_string(limits.header_timeout_ms.count()));
        put("body_timeout_ms", std::to_string(limits.body_timeout_ms.count()));
        put("max_connections_per_ip", std::to_string(limits.max_connections_per_ip));
        put("max_new_connections_per_ip_per_second",
            std::to_string(limits.max_new_connections_per_ip_per_second));
        put("max_http_workers_per_ip", std::to_string(limits.max_http_workers_per_ip));
        put("max_headers", std::to_string(limits.max_headers));
        put("max_history_page_bytes", std::to_string(limits.max_history_page_bytes));
        put("max_write_bytes_per_second_per_ip", std::to_string(limits.max_write_bytes_per_second_per_ip));
        put("max_pending_input_bytes", std::to_string(limits.max_pending_input_bytes));
        put("message_timeout_ms", std::to_string(limits.message_timeout_ms.count()));
        put("max_rooms", std::to_string(limits.max_rooms));
        put("max_new_rooms_per_ip_per_second", std::to_string(limits.max_new_rooms_per_ip_per_second));
        put("new_room_burst", std::to_string(limits.new_room_burst));
        put("max_rooms_per_connection", std::to_string(limits.max_rooms_per_connection));
        close();
    }

    const Config& config_;
    YAML::Emitter out_;
    std::string prefix_;
    std::vector<std::string> prefixes_;
};

}  // namespace

std::string Config::describe() const {
    return Describer(*this).yaml();
}

// Go-style sums such as "1h30m" are taken too: they are what people write for retention.
Result<std::chrono::milliseconds> parseDuration(const std::string& text) {
    const Status bad(
        Code::InvalidArgument,
        "expected a duration such as 24h, 30m, 90s, 7d, 500ms or a number of seconds, got '" + text + "'");
    if (isDigits(text)) {
        auto count = parseInteger<int64_t>(text);
        if (!count || *count > std::numeric_limits<int64_t>::max() / 1000) return bad;
        return std::chrono::milliseconds(*count * 1000);
    }
    std::string_view rest = text;
    int64_t total = 0;
    do {
        auto term = takeDurationTerm(rest);
        if (!term || *term > std::numeric_limits<int64_t>::max() - total) return bad;
        total += *term;
    } while (!rest.empty());
    return std::chrono::milliseconds(total);
}

}  // namespace partyline
