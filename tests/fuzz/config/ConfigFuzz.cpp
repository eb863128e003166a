// Config::parse on arbitrary text, as if it were the file fuzz.yaml.
// Checks: no crash, hang or escaping exception; bad text gives InvalidArgument with a message of
// one or more lines, each "fuzz.yaml:LINE: ..." (the line where that problem is); good text gives a Config
// that keeps the rules the loader promises (bounds, parties with a script or a valid router, timeouts).
#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "FuzzCheck.h"
#include "config/Config.h"

using namespace partyline;

namespace {

// "fuzz.yaml:LINE: ", LINE a positive decimal number.
bool namesFileAndLine(const std::string& message) {
    const std::string prefix = "fuzz.yaml:";
    if (message.compare(0, prefix.size(), prefix) != 0) return false;
    size_t i = prefix.size();
    if (i >= message.size() || message[i] < '1' || message[i] > '9') return false;
    while (i < message.size() && std::isdigit(static_cast<unsigned char>(message[i]))) ++i;
    return message.compare(i, 2, ": ") == 0;
}

void checkConfig(const Config& config) {
    FUZZ_CHECK(!config.listen.empty() && !config.node_id.empty() && !config.data_dir.empty(),
               "empty text value");
    FUZZ_CHECK(config.nats.replicas >= 1 && config.nats.replicas <= 5, "replicas out of range");
    FUZZ_CHECK(config.nats.max_age.count() >= 1, "max_age under a second");
    FUZZ_CHECK(config.nats.max_msgs_per_room >= 1 || config.nats.max_msgs_per_room == -1, "bad message cap");
    const Limits& limits = config.limits;
    FUZZ_CHECK(limits.max_connections >= 1 && limits.max_message_bytes >= 1 &&
                   limits.send_buffer_bytes >= 1 && limits.lua_memory_bytes >= 1 &&
                   limits.lua_instructions_per_call >= 1,
               "a limit of zero");
    FUZZ_CHECK(limits.ping_timeout_seconds > limits.ping_interval_seconds,
               "ping timeout not over the interval");
    FUZZ_CHECK(limits.idle_room_seconds.count() >= 1, "idle room time under a second");
    FUZZ_CHECK(config.nats.duplicate_window <= config.nats.max_age, "duplicate window over max_age");
    FUZZ_CHECK(config.nats.max_msg_size >= limits.max_message_bytes &&
                   config.nats.max_msg_size <= config.nats.max_bytes &&
                   config.nats.max_msg_size <= 0x7fffffff,
               "a stream that refuses writes the node accepts");
    FUZZ_CHECK(limits.max_history_page_bytes >= 1, "a history page budget of zero");
    for (const auto& key : config.api.keys) FUZZ_CHECK(!key.empty(), "an empty API key");
    FUZZ_CHECK(!config.api.insecure || config.api.keys.empty(), "insecure together with keys");
    for (const auto& origin : config.origins) {
        auto authority = origin.find("://");
        FUZZ_CHECK(authority != std::string::npos && origin.find('/', authority + 3) == std::string::npos,
                   "an origin with a path");
    }
    for (const auto& [name, party] : config.parties) {
        FUZZ_CHECK(name == party.name && !name.empty(), "party stored under another name");
        bool router = party.router.shards > 0;
        FUZZ_CHECK(router != !party.script.empty(), "a party needs a script or a router, not both");
        if (router) {
            auto target = config.parties.find(party.router.target);
            FUZZ_CHECK(target != config.parties.end() && target->second.router.shards == 0,
                       "router target is not a party with a script");
        }
        if (party.auth) {
            const JwtConfig& jwt = party.auth->jwt;
            FUZZ_CHECK(jwt.secret.empty() != jwt.public_key.empty(),
                       "not exactly one of secret and public_key");
            FUZZ_CHECK(!jwt.algorithms.empty(), "auth without algorithms");
            for (const auto& algorithm : jwt.algorithms) {
                FUZZ_CHECK(algorithm != "none", "algorithm none accepted");
                FUZZ_CHECK(algorithm.starts_with("HS") == !jwt.secret.empty(),
                           "an algorithm for the other key");
            }
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string yaml(reinterpret_cast<const char*>(data), size);
    auto config = Config::parse(yaml, "fuzz.yaml");
    if (config.isOk()) {
        checkConfig(config.value());
        return 0;
    }
    FUZZ_CHECK(config.status().code() == Code::InvalidArgument, "an error that is not InvalidArgument");
    const std::string& message = config.status().message();
    for (size_t start = 0; start <= message.size();) {
        size_t end = std::min(message.find('\n', start), message.size());
        if (!namesFileAndLine(message.substr(start, end - start))) {
            std::fprintf(stderr, "message: %s\n", message.c_str());
            FUZZ_CHECK(false, "an error line does not start with fuzz.yaml:LINE:");
        }
        start = end + 1;
    }
    return 0;
}
