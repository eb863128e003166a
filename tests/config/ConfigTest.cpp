// Config loader: defaults, a commented example, one test per kind of error (each asserting the
// whole message, so the key and the line are pinned), durations and sizes, and the shipped files.
#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "config/Config.h"
#include "net/FetchPolicy.h"

using namespace partyline;
using namespace std::chrono_literals;

namespace {

// The message of the error `yaml` must produce, read as the file "t.yaml".
std::string errorOf(const std::string& yaml) {
    auto config = Config::parse(yaml, "t.yaml");
    REQUIRE_MESSAGE(!config.isOk(), "expected an error for:\n" << yaml);
    CHECK(config.status().code() == Code::InvalidArgument);
    return config.status().message();
}

Config parsed(const std::string& yaml) {
    auto config = Config::parse(yaml, "t.yaml");
    REQUIRE_MESSAGE(config.isOk(), config.status().toString());
    return std::move(config).value();
}

// Sets environment variables for one test and unsets them after it.
class ScopedEnvironment {
   public:
    ScopedEnvironment(std::initializer_list<std::pair<const char*, const char*>> variables) {
        for (const auto& [name, value] : variables) {
            setenv(name, value, 1);
            names_.push_back(name);
        }
    }
    ~ScopedEnvironment() {
        for (const char* name : names_) unsetenv(name);
    }

   private:
    std::vector<const char*> names_;
};

// Runs one test from another working directory, and goes back after it.
class ScopedWorkingDirectory {
   public:
    explicit ScopedWorkingDirectory(const std::filesystem::path& path)
        : previous_(std::filesystem::current_path()) {
        std::filesystem::current_path(path);
    }
    ~ScopedWorkingDirectory() { std::filesystem::current_path(previous_); }

   private:
    std::filesystem::path previous_;
};

std::string shipped(const std::string& name) {
    return std::string(PARTYLINE_TEST_DIR) + "/../config/" + name;
}

// A script path of a shipped configuration as Config::load resolves it: in the file's folder.
std::string shippedScript(const std::string& relative) {
    return (std::filesystem::absolute(shipped("partyline.yaml")).parent_path() / relative).string();
}

}  // namespace

TEST_CASE("an empty file, or one with only comments, gives every default") {
    const Config defaults;
    for (const char* yaml : {"", "\n\n", "# nothing set yet\n  # indented comment\n", "---\n"}) {
        Config config = parsed(yaml);
        CHECK(config.listen == "0.0.0.0:1999");
        CHECK(config.node_id == "auto");
        CHECK(config.data_dir == ".partyline");
        CHECK(config.source == "t.yaml");
        CHECK(config.nats.url == "embedded");
        CHECK(config.nats.stream == "PARTYLINE");
        CHECK(config.nats.replicas == 1);
        CHECK(config.nats.partitions == 1);
        CHECK(config.nats.max_age == 24h);
        CHECK(config.nats.max_msgs_per_room == 10000);
        CHECK(config.nats.subject_prefix == "partyline");
        CHECK(config.parties.empty());
        CHECK(config.limits.max_connections == defaults.limits.max_connections);
        CHECK(config.limits.max_message_bytes == 1048576);
        CHECK(config.limits.send_buffer_bytes == 1048576);
        CHECK(config.limits.lua_memory_bytes == 16777216);
        CHECK(config.limits.lua_instructions_per_call == 10000000);
        CHECK(config.limits.lua_cpu_ms_per_call == 1000);
        CHECK(config.limits.idle_room_seconds == 60s);
        CHECK(config.limits.ping_interval_seconds == 10s);
        CHECK(config.limits.ping_timeout_seconds == 20s);
        CHECK(config.limits.max_pending_input_bytes == 256 * 1024 * 1024);
        CHECK(config.limits.message_timeout_ms == 10000ms);
        CHECK(config.limits.max_rooms == 10000);
        CHECK(config.limits.max_new_rooms_per_ip_per_second == 20);
        CHECK(config.limits.new_room_burst == 100);
        CHECK(config.limits.max_rooms_per_connection == 100);
    }
}

TEST_CASE("sections whose keys are all commented out are empty, not errors") {
    Config config = parsed("nats:\n  # url: embedded\nlimits:\nparties:\n");
    CHECK(config.nats.url == "embedded");
    CHECK(config.parties.empty());
}

TEST_CASE("a commented example parses to its values") {
    Config config = parsed(R"(
listen: 0.0.0.0:1999
node_id: auto                 # default: hostname-pid
nats:
  url: embedded               # embedded: start a local nats-server with JetStream; else nats://host:4222,...
  stream: PARTYLINE
  replicas: 1                 # 3 in a NATS cluster
  max_age: 24h                # log retention
  max_msgs_per_room: 10000
parties:
  main: { script: examples/chat/room.lua }
  game: { script: examples/chess/room.lua, storage: true }
limits:
  max_connections: 20000
  max_message_bytes: 1048576
  send_buffer_bytes: 1048576
  lua_memory_bytes: 16777216
  lua_instructions_per_call: 10000000
  idle_room_seconds: 60
)");
    CHECK(config.listen == "0.0.0.0:1999");
    CHECK(config.node_id == "auto");
    CHECK(config.nats.url == "embedded");
    CHECK(config.nats.stream == "PARTYLINE");
    CHECK(config.nats.replicas == 1);
    CHECK(config.nats.max_age == 24h);
    CHECK(config.nats.max_msgs_per_room == 10000);
    REQUIRE(config.parties.size() == 2);
    CHECK(config.parties.at("main").name == "main");
    CHECK(config.parties.at("main").script == "examples/chat/room.lua");
    CHECK_FALSE(config.parties.at("main").storage);
    CHECK(config.parties.at("game").name == "game");
    CHECK(config.parties.at("game").script == "examples/chess/room.lua");
    CHECK(config.parties.at("game").storage);
    CHECK(config.limits.max_connections == 20000);
    CHECK(config.limits.max_message_bytes == 1048576);
    CHECK(config.limits.send_buffer_bytes == 1048576);
    CHECK(config.limits.lua_memory_bytes == 16777216);
    CHECK(config.limits.lua_instructions_per_call == 10000000);
    CHECK(config.limits.idle_room_seconds == 60s);
}

TEST_CASE("every other key is read too") {
    Config config = parsed(R"(
listen: "[::1]:8080"
node_id: eu-west.node_7
data_dir: /var/lib/partyline
nats:
  url: nats://a:4222, tls://user:secret@b.example.com, nats://[fd00::2]:4223
  stream: ROOMS_v2
  replicas: 3
  max_age: 7d
  max_msgs_per_room: -1
  subject_prefix: acme.partyline
  storage_bucket: ACME_STORAGE
  alarm_bucket: ACME-ALARMS
limits:
  max_connections: 5
  max_message_bytes: 64KiB
  send_buffer_bytes: 2MB
  lua_memory_bytes: 1 GiB
  lua_instructions_per_call: 50000000000
  lua_cpu_ms_per_call: 250
  idle_room_seconds: 1
  ping_interval_seconds: 10
  ping_timeout_seconds: 11
  storage_value_bytes: 64KiB
)");
    CHECK(config.listen == "[::1]:8080");
    CHECK(config.node_id == "eu-west.node_7");
    CHECK(config.data_dir == "/var/lib/partyline");
    // The spaces after the commas are dropped so the bus can split on ',' alone.
    CHECK(config.nats.url == "nats://a:4222,tls://user:secret@b.example.com,nats://[fd00::2]:4223");
    CHECK(config.nats.stream == "ROOMS_v2");
    CHECK(config.nats.replicas == 3);
    CHECK(config.nats.max_age == 7 * 24h);
    CHECK(config.nats.max_msgs_per_room == -1);
    CHECK(config.nats.subject_prefix == "acme.partyline");
    CHECK(config.nats.storage_bucket == "ACME_STORAGE");
    CHECK(config.nats.alarm_bucket == "ACME-ALARMS");
    CHECK(config.limits.max_connections == 5);
    CHECK(config.limits.max_message_bytes == 64 * 1024);
    CHECK(config.limits.send_buffer_bytes == 2000000);
    CHECK(config.limits.lua_memory_bytes == 1024 * 1024 * 1024);
    CHECK(config.limits.lua_instructions_per_call == 50000000000ull);
    CHECK(config.limits.lua_cpu_ms_per_call == 250);
    CHECK(config.limits.idle_room_seconds == 1s);
    CHECK(config.limits.ping_interval_seconds == 10s);
    CHECK(config.limits.ping_timeout_seconds == 11s);
    CHECK(config.limits.storage_value_bytes == 64 * 1024);
}

TEST_CASE("listen accepts every form of host") {
    for (const char* listen : {"0.0.0.0:1999", ":1999", "127.0.0.1:1", "127.0.0.1:0", "[::]:65535",
                               "[::1]:1999", "localhost:80", "partyline-1.internal.example:443"}) {
        CAPTURE(listen);
        CHECK(parsed(std::string("listen: \"") + listen + "\"\n").listen == listen);
    }
}

TEST_CASE("an unknown key names its path and line") {
    CHECK(errorOf("listen: :1999\ncolour: blue\n") == "t.yaml:2: unknown key 'colour'");
    CHECK(errorOf("nats:\n  url: embedded\n  compression: on\n") ==
          "t.yaml:3: unknown key 'nats.compression'");
}

TEST_CASE("an unknown key close to a known one gets a suggestion") {
    CHECK(errorOf("limits:\n  max_conections: 10\n") ==
          "t.yaml:2: unknown key 'limits.max_conections'; did you mean 'max_connections'?");
    CHECK(errorOf("lsiten: :1\n") == "t.yaml:1: unknown key 'lsiten'; did you mean 'listen'?");
    CHECK(errorOf("parties:\n  main:\n    scirpt: a.lua\n") ==
          "t.yaml:3: unknown key 'parties.main.scirpt'; did you mean 'script'?");
}

TEST_CASE("a known key in the wrong section is pointed to where it belongs") {
    // The usual cause: an indentation slip moves a key out of its section.
    CHECK(errorOf("nats:\n  url: embedded\nreplicas: 3\n") ==
          "t.yaml:3: unknown key 'replicas'; did you mean 'nats.replicas'?");
    CHECK(errorOf("nats:\n  idle_room_seconds: 5\n") ==
          "t.yaml:2: unknown key 'nats.idle_room_seconds'; did you mean 'limits.idle_room_seconds'?");
}

TEST_CASE("a key given twice is an error at its second line") {
    CHECK(errorOf("nats:\n  replicas: 1\n  replicas: 3\n") == "t.yaml:3: duplicate key 'nats.replicas'");
}

TEST_CASE("a value that is not a positive integer names the key, the line and the text") {
    CHECK(errorOf("limits:\n  max_connections: 0\n") ==
          "t.yaml:2: limits.max_connections: expected a positive integer, got '0'");
    CHECK(errorOf("limits:\n  max_connections: 1.5\n") ==
          "t.yaml:2: limits.max_connections: expected a positive integer, got '1.5'");
    CHECK(errorOf("limits:\n  lua_instructions_per_call: -3\n") ==
          "t.yaml:2: limits.lua_instructions_per_call: expected a positive integer, got '-3'");
    CHECK(errorOf("limits:\n\n  idle_room_seconds: 0\n") ==
          "t.yaml:3: limits.idle_room_seconds: expected a positive integer, got '0'");
}

TEST_CASE("a size that does not parse names the key, the line and the text") {
    CHECK(errorOf("limits:\n  max_message_bytes: abc\n") ==
          "t.yaml:2: limits.max_message_bytes: expected a positive integer or a size such as 512KiB, "
          "1MiB, 16MB, got 'abc'");
    for (const char* size : {"0", "0MiB", "1.5MiB", "16 mb", "MiB", "-1", "1MiB2", "99999999999GiB"}) {
        CAPTURE(size);
        CHECK(errorOf(std::string("limits:\n  lua_memory_bytes: ") + size + "\n")
                  .find("t.yaml:2: limits.lua_memory_bytes: expected a positive integer") == 0);
    }
}

TEST_CASE("sizes take binary and decimal units") {
    auto size = [](const char* text) {
        return parsed(std::string("limits:\n  send_buffer_bytes: ") + text + "\n").limits.send_buffer_bytes;
    };
    CHECK(size("1") == 1);
    CHECK(size("100B") == 100);
    CHECK(size("512KiB") == 512 * 1024);
    CHECK(size("1MiB") == 1048576);
    CHECK(size("2GiB") == 2ull * 1024 * 1024 * 1024);
    CHECK(size("3KB") == 3000);
    CHECK(size("16MB") == 16000000);
    CHECK(size("1GB") == 1000000000);
    CHECK(size("8 MiB") == 8 * 1048576);
}

TEST_CASE("a value of the wrong shape says what it got") {
    CHECK(errorOf("listen: [a, b]\n") ==
          "t.yaml:1: listen: expected HOST:PORT with a port from 0 (any free port) to 65535 "
          "(HOST: empty for all interfaces, IPv4, [IPv6] or a name), got a list");
    CHECK(errorOf("nats:\n  stream:\n    name: X\n") ==
          "t.yaml:2: nats.stream: expected a stream name of A-Z a-z 0-9 _ -, got a map");
    CHECK(errorOf("data_dir:\nlisten: :1\n") ==
          "t.yaml:1: data_dir: expected a non-empty string, got nothing");
    CHECK(errorOf("nats: embedded\n") == "t.yaml:1: nats: expected a map, got 'embedded'");
    CHECK(errorOf("- listen: :1\n") == "t.yaml:1: expected a map, got a list");
}

TEST_CASE("listen must be HOST:PORT with a valid port and host") {
    for (const char* listen :
         {"1999", "0.0.0.0", "0.0.0.0:00", ":", "0.0.0.0:65536", "0.0.0.0:http", "::1:1999", "[::1:1999",
          "[nope]:1", "300.1.1.1:80", "bad/host:80", "-a:80", "a:80:81", ""}) {
        CAPTURE(listen);
        CHECK(errorOf(std::string("listen: \"") + listen + "\"\n")
                  .find(std::string("t.yaml:1: listen: expected HOST:PORT")) == 0);
    }
}

TEST_CASE("node_id is 'auto' or a short name") {
    CHECK(parsed("node_id: node-1\n").node_id == "node-1");
    CHECK(errorOf("node_id: node 1\n") ==
          "t.yaml:1: node_id: expected 'auto' or 1 to 64 characters of A-Z a-z 0-9 _ - ., got 'node 1'");
    CHECK(errorOf("node_id: " + std::string(65, 'n') + "\n").find("t.yaml:1: node_id: expected") == 0);
    CHECK(errorOf("node_id: ''\n").find("t.yaml:1: node_id: expected") == 0);
}

TEST_CASE("nats.url is 'embedded' or nats:// and tls:// URLs") {
    const std::string expected =
        "t.yaml:2: nats.url: expected 'embedded' or a comma-separated list of nats:// or tls:// URLs, got '";
    for (const char* url : {"http://a:4222", "nats://", "nats://a:4222,", "nats://a:0", "a:4222", "Embedded",
                            "nats://a:4222,,nats://b:4222", "nats://a b:4222"}) {
        CAPTURE(url);
        CHECK(errorOf(std::string("nats:\n  url: \"") + url + "\"\n") == expected + url + "'");
    }
}

TEST_CASE("nats.stream and nats.subject_prefix keep to the characters NATS allows") {
    CHECK(errorOf("nats:\n  stream: PARTY.LINE\n") ==
          "t.yaml:2: nats.stream: expected a stream name of A-Z a-z 0-9 _ -, got 'PARTY.LINE'");
    for (const char* prefix : {"a.*", "a.>", ".a", "a.", "a..b", "a b"}) {
        CAPTURE(prefix);
        CHECK(errorOf(std::string("nats:\n  subject_prefix: \"") + prefix + "\"\n")
                  .find("t.yaml:2: nats.subject_prefix: expected") == 0);
    }
}

TEST_CASE("bucket names keep to the characters NATS allows and differ; values have a size limit") {
    CHECK(errorOf("nats:\n  storage_bucket: ROOM.STATE\n") ==
          "t.yaml:2: nats.storage_bucket: expected a bucket name of A-Z a-z 0-9 _ -, got 'ROOM.STATE'");
    CHECK(errorOf("nats:\n  alarm_bucket: \"\"\n") ==
          "t.yaml:2: nats.alarm_bucket: expected a bucket name of A-Z a-z 0-9 _ -, got ''");
    CHECK(errorOf("nats:\n  stream: S\n  storage_bucket: B\n  alarm_bucket: B\n") ==
          "t.yaml:4: nats.alarm_bucket and nats.storage_bucket must differ, both are 'B'");
    CHECK(errorOf("nats:\n  storage_bucket: PARTYLINE_ALARMS\n") ==
          "t.yaml:2: nats.alarm_bucket and nats.storage_bucket must differ, both are 'PARTYLINE_ALARMS'");
    CHECK(errorOf("limits:\n  storage_value_bytes: 0\n") ==
          "t.yaml:2: limits.storage_value_bytes: expected a positive integer or a size such as 512KiB, 1MiB, "
          "16MB, got '0'");
}

TEST_CASE("nats.replicas is 1 to 5 and max_msgs_per_room is positive or -1") {
    CHECK(errorOf("nats:\n  replicas: 6\n") ==
          "t.yaml:2: nats.replicas: expected an integer from 1 to 5, got '6'");
    CHECK(errorOf("nats:\n  replicas: 0\n") ==
          "t.yaml:2: nats.replicas: expected an integer from 1 to 5, got '0'");
    CHECK(errorOf("nats:\n  max_msgs_per_room: 0\n") ==
          "t.yaml:2: nats.max_msgs_per_room: expected a positive integer, or -1 for unlimited, got '0'");
    CHECK(errorOf("nats:\n  max_msgs_per_room: -2\n").find("t.yaml:2: nats.max_msgs_per_room:") == 0);
}

TEST_CASE("nats.partitions is an integer from 1 to 64") {
    CHECK(parsed("nats:\n  partitions: 3\n").nats.partitions == 3);
    CHECK(parsed("nats:\n  partitions: 64\n").nats.partitions == 64);
    CHECK(errorOf("nats:\n  partitions: 0\n") ==
          "t.yaml:2: nats.partitions: expected an integer from 1 to 64, got '0'");
    CHECK(errorOf("nats:\n  partitions: 65\n") ==
          "t.yaml:2: nats.partitions: expected an integer from 1 to 64, got '65'");
    CHECK(errorOf("nats:\n  partitions: three\n") ==
          "t.yaml:2: nats.partitions: expected an integer from 1 to 64, got 'three'");
}

TEST_CASE("nats.storage is file (the default) or memory") {
    CHECK(parsed("nats:\n  url: nats://127.0.0.1:4222\n").nats.storage == "file");
    CHECK(parsed("nats:\n  storage: memory\n").nats.storage == "memory");
    CHECK(parsed("nats:\n  storage: file\n").nats.storage == "file");
    CHECK(errorOf("nats:\n  storage: disk\n") ==
          "t.yaml:2: nats.storage: expected file or memory, got 'disk'");
}

TEST_CASE("nats.batch_reads: true by default, false asks one entry per request") {
    CHECK(Config{}.nats.batch_reads);
    CHECK_FALSE(parsed("nats:\n  batch_reads: false\n").nats.batch_reads);
    CHECK(parsed("nats:\n  batch_reads: true\n").nats.batch_reads);
    CHECK(errorOf("nats:\n  batch_reads: sometimes\n") ==
          "t.yaml:2: nats.batch_reads: expected true or false, got 'sometimes'");
}

TEST_CASE("with partitions, nats.max_msg_size fits each partition's share of nats.max_bytes") {
    CHECK(parsed("nats:\n  partitions: 4\n  max_bytes: 8MiB\n  max_msg_size: 2MiB\n").nats.max_msg_size ==
          2 * 1024 * 1024);
    CHECK(errorOf("nats:\n  partitions: 4\n  max_bytes: 8MiB\n  max_msg_size: 3MiB\n") ==
          "t.yaml:4: nats.max_msg_size (3145728) must not be larger than each partition's share of "
          "nats.max_bytes (8388608 / 4 partitions = 2097152)");
}

TEST_CASE("nats.max_age is a duration of at least a second") {
    CHECK(parsed("nats:\n  max_age: 30m\n").nats.max_age == 30min);
    CHECK(parsed("nats:\n  max_age: 90\n").nats.max_age == 90s);
    CHECK(parsed("nats:\n  max_age: 1500ms\n").nats.max_age == 1s);
    const std::string expected =
        "t.yaml:2: nats.max_age: expected a duration of at least 1s, such as 24h, 30m, 90s, 7d or a number "
        "of "
        "seconds, got '";
    for (const char* age : {"0", "0s", "500ms", "forever", "-1h", "24 h", "1.5h"}) {
        CAPTURE(age);
        CHECK(errorOf(std::string("nats:\n  max_age: ") + age + "\n") == expected + age + "'");
    }
}

TEST_CASE("parseDuration") {
    CHECK(parseDuration("24h").value() == 24h);
    CHECK(parseDuration("30m").value() == 30min);
    CHECK(parseDuration("90s").value() == 90s);
    CHECK(parseDuration("7d").value() == 7 * 24h);
    CHECK(parseDuration("500ms").value() == 500ms);
    CHECK(parseDuration("45").value() == 45s);
    CHECK(parseDuration("0").value() == 0ms);
    CHECK(parseDuration("1h30m").value() == 90min);
    CHECK(parseDuration("1d12h").value() == 36h);
    const std::string expected =
        "expected a duration such as 24h, 30m, 90s, 7d, 500ms or a number of seconds, got '";
    for (const char* bad : {"", "h", "10x", "1.5h", "-5s", " 5s", "5s ", "1h30", "99999999999999999999d",
                            "9223372036854775807"}) {
        CAPTURE(bad);
        auto duration = parseDuration(bad);
        REQUIRE_FALSE(duration.isOk());
        CHECK(duration.status().code() == Code::InvalidArgument);
        CHECK(duration.status().message() == expected + bad + "'");
    }
}

TEST_CASE("ping_timeout_seconds must exceed ping_interval_seconds") {
    CHECK(
        errorOf("limits:\n  ping_interval_seconds: 30\n  ping_timeout_seconds: 30\n") ==
        "t.yaml:3: limits.ping_timeout_seconds (30) must be greater than limits.ping_interval_seconds (30)");
    // Only the interval is set: the error points at it, since the timeout's line does not exist.
    CHECK(
        errorOf("limits:\n  ping_interval_seconds: 90\n") ==
        "t.yaml:2: limits.ping_timeout_seconds (20) must be greater than limits.ping_interval_seconds (90)");
}

TEST_CASE("parties need a valid name and a script") {
    CHECK(errorOf("parties:\n  main: {}\n") == "t.yaml:2: parties.main: missing required key 'script'");
    CHECK(errorOf("parties:\n  main:\n    storage: true\n") ==
          "t.yaml:2: parties.main: missing required key 'script'");
    CHECK(errorOf("parties:\n  main: { script: '' }\n") ==
          "t.yaml:2: parties.main.script: expected a non-empty string, got ''");
    CHECK(errorOf("parties:\n  main: examples/chat/room.lua\n") ==
          "t.yaml:2: parties.main: expected a map, got 'examples/chat/room.lua'");
    CHECK(errorOf("parties:\n  a.b: { script: x.lua }\n") ==
          "t.yaml:2: parties: expected a party name of 1 to 64 characters of A-Z a-z 0-9 _ -, got 'a.b'");
    CHECK(
        errorOf("parties:\n  " + std::string(65, 'p') + ": { script: x.lua }\n").find("t.yaml:2: parties:") ==
        0);
    CHECK(errorOf("parties:\n  main: { script: x.lua, storage: yes }\n") ==
          "t.yaml:2: parties.main.storage: expected true or false, got 'yes'");
    CHECK(errorOf("parties:\n  main: { script: x.lua }\n  main: { script: y.lua }\n") ==
          "t.yaml:3: duplicate key 'parties.main'");
}

TEST_CASE("a YAML syntax error names the line") {
    CHECK(errorOf("listen: :1999\nnats: [embedded\nlimits: {}\n").find("t.yaml:3: YAML syntax error: ") == 0);
    CHECK(errorOf("nats:\n  url: embedded\n\tstream: X\n") ==
          "t.yaml:3: YAML syntax error: illegal tab when looking for indentation");
    CHECK(errorOf("listen: a: b\n").find("t.yaml:1: YAML syntax error: ") == 0);
}

TEST_CASE("more than one YAML document is an error") {
    CHECK(errorOf("listen: :1\n---\nlisten: :2\n") == "t.yaml:3: expected one YAML document, found 2");
}

TEST_CASE("load reads a file and names it in errors") {
    auto dir = std::filesystem::temp_directory_path() / "partyline-config-test";
    std::filesystem::create_directories(dir);
    auto path = (dir / "node.yaml").string();
    std::ofstream(path) << "listen: :2000\nlimits:\n  max_conections: 1\n";

    auto config = Config::load(path);
    REQUIRE_FALSE(config.isOk());
    CHECK(config.status().message() ==
          path + ":3: unknown key 'limits.max_conections'; did you mean 'max_connections'?");

    std::ofstream(path) << "listen: :2000\n";
    config = Config::load(path);
    REQUIRE(config.isOk());
    CHECK(config->listen == ":2000");
    CHECK(config->source == path);
    std::filesystem::remove_all(dir);
}

// A folder of this test process's own, removed at the end of the test case.
class ScratchFolder {
   public:
    explicit ScratchFolder(const std::string& name)
        : path_(std::filesystem::temp_directory_path() / (name + "-" + std::to_string(getpid()))) {
        std::filesystem::remove_all(path_);
        std::filesystem::create_directories(path_);
    }
    ~ScratchFolder() { std::filesystem::remove_all(path_); }
    std::string write(const std::string& name, const std::string& text) const {
        auto file = path_ / name;
        std::filesystem::create_directories(file.parent_path());
        std::ofstream(file) << text;
        return file.string();
    }
    const std::filesystem::path& path() const { return path_; }

   private:
    std::filesystem::path path_;
};

TEST_CASE("every error of a file is reported at once, each with the file and its line, in line order") {
    ScratchFolder folder("partyline-config-errors");
    const std::string chat = folder.write("chat.lua", "return {}\n");
    const std::string lost = (folder.path() / "lost.lua").string();
    auto path = folder.write("node.yaml",
                             "listen: nowhere\n"
                             "parties:\n"
                             "  chat: {script: " +
                                 chat +
                                 "}\n"
                                 "  lost: {script: " +
                                 lost +
                                 "}\n"
                                 "limits:\n"
                                 "  max_conections: 5\n"
                                 "  http_threads: 64\n");
    auto config = Config::load(path);
    REQUIRE_FALSE(config.isOk());
    CHECK(config.status().code() == Code::InvalidArgument);
    CHECK(
        config.status().message() ==
        path +
            ":1: listen: expected HOST:PORT with a port from 0 (any free port) to 65535 (HOST: empty for all "
            "interfaces, IPv4, [IPv6] or a name), got 'nowhere'\n" +
            path + ":4: parties.lost.script: no such file '" + lost + "'\n" + path +
            ":6: unknown key 'limits.max_conections'; did you mean 'max_connections'?");
}

TEST_CASE(
    "errors in lists, sections and rules between keys are each reported, and their order follows the file") {
    CHECK(
        errorOf("trusted_proxies: [10.0.0.0/8, nope, also-nope]\n"
                "limits: {ping_interval_seconds: 30, ping_timeout_seconds: 10}\n"
                "nats: {storage_bucket: SAME, alarm_bucket: SAME}\n"
                "parties:\n"
                "  a: {script: a.lua, storage: maybe}\n"
                "  b: {}\n") ==
        "t.yaml:1: trusted_proxies[1]: expected a numeric IP address or CIDR block such as 10.0.0.0/8 or "
        "fd00::/8, got 'nope'\n"
        "t.yaml:1: trusted_proxies[2]: expected a numeric IP address or CIDR block such as 10.0.0.0/8 or "
        "fd00::/8, got 'also-nope'\n"
        "t.yaml:2: limits.ping_timeout_seconds (10) must be greater than limits.ping_interval_seconds (30)\n"
        "t.yaml:3: nats.alarm_bucket and nats.storage_bucket must differ, both are 'SAME'\n"
        "t.yaml:5: parties.a.storage: expected true or false, got 'maybe'\n"
        "t.yaml:6: parties.b: missing required key 'script'");
}

TEST_CASE("each error is one line: a line break in a quoted value or key is written as \\n") {
    CHECK(errorOf("node_id: \"two\\nlines\"\n\"bad\\rkey\": 1\n") ==
          "t.yaml:1: node_id: expected 'auto' or 1 to 64 characters of A-Z a-z 0-9 _ - ., got 'two\\nlines'\n"
          "t.yaml:2: unknown key 'bad\\rkey'");
    // yaml-cpp's own message may quote a line break (tests/fuzz: crash-line-break-in-yaml-error).
    std::string message = errorOf(std::string("- !+\0\n,.)\n", 10));
    CHECK(message.find("t.yaml:2: YAML syntax error: ") == 0);
    CHECK(message.find('\n') == std::string::npos);
}

TEST_CASE("an error is not followed by the errors it would cause") {
    // A refused ping interval leaves no value to compare the timeout with.
    CHECK(errorOf("limits:\n  ping_interval_seconds: soon\n  ping_timeout_seconds: 5\n") ==
          "t.yaml:2: limits.ping_interval_seconds: expected a positive integer, got 'soon'");
    // A router whose target party had an error names no second error.
    CHECK(errorOf("parties:\n  r: {router: {target: m, shards: 2}}\n  m: {script: a.lua, storag: true}\n") ==
          "t.yaml:3: unknown key 'parties.m.storag'; did you mean 'storage'?");
    // A jwt section with a bad key is not checked for its required keys.
    CHECK(errorOf(
              "parties:\n  m:\n    script: a.lua\n    auth:\n      jwt: {secret: x, algoritms: [HS256]}\n") ==
          "t.yaml:5: unknown key 'parties.m.auth.jwt.algoritms'; did you mean 'algorithms'?");
}

TEST_CASE("load: a relative script path is relative to the configuration file's folder") {
    ScratchFolder folder("partyline-config-scripts");
    folder.write("rooms/chat.lua", "return {}\n");
    const std::string absolute = folder.write("elsewhere/lobby.lua", "return {}\n");
    auto path = folder.write("conf/node.yaml",
                             "parties:\n"
                             "  chat: {script: ../rooms/chat.lua}\n"
                             "  lobby: {script: " +
                                 absolute +
                                 "}\n"
                                 "  fan: {router: {target: chat, shards: 2}}\n");
    const std::string chat = (folder.path() / "conf" / "../rooms/chat.lua").string();
    auto config = Config::load(path);
    REQUIRE_MESSAGE(config.isOk(), config.status().toString());
    CHECK(config->parties.at("chat").script == chat);
    CHECK(config->parties.at("lobby").script == absolute);
    CHECK(config->parties.at("fan").script.empty());
    CHECK(config->describe().find("script: " + chat + "\n") != std::string::npos);

    // The same file named from another working directory: the same scripts.
    {
        ScopedWorkingDirectory elsewhere(folder.path() / "elsewhere");
        auto relative = Config::load("../conf/node.yaml");
        REQUIRE_MESSAGE(relative.isOk(), relative.status().toString());
        CHECK(relative->parties.at("chat").script ==
              (folder.path() / "elsewhere/../conf/../rooms/chat.lua").string());
        CHECK(std::filesystem::equivalent(relative->parties.at("chat").script,
                                          folder.path() / "rooms/chat.lua"));
        CHECK(relative->parties.at("lobby").script == absolute);
    }

    // A path that names the script from the working directory, not from the file's folder, is
    // not found, and the message says where it was looked for; an absolute one is named as it is.
    folder.write("conf/old.yaml",
                 "parties:\n  chat:\n    script: rooms/chat.lua\n  lost: {script: /no/such.lua}\n");
    ScopedWorkingDirectory top(folder.path());
    auto missing = Config::load("conf/old.yaml");
    REQUIRE_FALSE(missing.isOk());
    CHECK(missing.status().message() ==
          "conf/old.yaml:3: parties.chat.script: no such file 'rooms/chat.lua' (relative to " +
              (folder.path() / "conf").string() +
              ", the configuration file's folder)\n"
              "conf/old.yaml:4: parties.lost.script: no such file '/no/such.lua'");
}

TEST_CASE("parse keeps script paths as written and does not look for them") {
    Config config = parsed("parties:\n  main: {script: nowhere/room.lua}\n");
    CHECK(config.parties.at("main").script == "nowhere/room.lua");
}

TEST_CASE("a file that cannot be read says why") {
    auto missing = Config::load("/nonexistent/partyline.yaml");
    REQUIRE_FALSE(missing.isOk());
    CHECK(missing.status().code() == Code::NotFound);
    CHECK(missing.status().message() == "cannot read /nonexistent/partyline.yaml: No such file or directory");

    auto directory = Config::load(PARTYLINE_TEST_DIR);
    REQUIRE_FALSE(directory.isOk());
    CHECK(directory.status().message() ==
          std::string("cannot read ") + PARTYLINE_TEST_DIR + ": Is a directory");
}

TEST_CASE("config/partyline.yaml: one node with embedded NATS, every other key at its default") {
    auto config = Config::load(shipped("partyline.yaml"));
    REQUIRE_MESSAGE(config.isOk(), config.status().toString());
    const Config defaults;
    CHECK(config->listen == defaults.listen);
    CHECK(config->node_id == "auto");
    CHECK(config->data_dir == defaults.data_dir);
    CHECK(config->nats.url == "embedded");
    CHECK(config->nats.stream == defaults.nats.stream);
    CHECK(config->nats.replicas == 1);
    CHECK(config->nats.max_age == defaults.nats.max_age);
    CHECK(config->nats.max_msgs_per_room == defaults.nats.max_msgs_per_room);
    CHECK(config->nats.subject_prefix == defaults.nats.subject_prefix);
    CHECK(config->nats.storage_bucket == defaults.nats.storage_bucket);
    CHECK(config->nats.alarm_bucket == defaults.nats.alarm_bucket);
    CHECK(config->nats.duplicate_window == defaults.nats.duplicate_window);
    CHECK(config->nats.max_bytes == defaults.nats.max_bytes);
    CHECK(config->nats.max_msg_size == defaults.nats.max_msg_size);
    CHECK(config->limits.max_history_page_bytes == defaults.limits.max_history_page_bytes);
    CHECK(config->limits.max_write_bytes_per_second_per_ip ==
          defaults.limits.max_write_bytes_per_second_per_ip);
    CHECK(config->api.keys.empty());
    CHECK(config->api.insecure == defaults.api.insecure);
    CHECK(config->origins.empty());
    CHECK(config->from_environment.empty());
    REQUIRE(config->parties.size() == 1);
    // Through config/examples, the link to the repository's examples beside the file.
    CHECK(config->parties.at("main").script == shippedScript("examples/chat/room.lua"));
    CHECK(std::filesystem::equivalent(config->parties.at("main").script,
                                      std::string(PARTYLINE_TEST_DIR) + "/../examples/chat/room.lua"));
    CHECK_FALSE(config->parties.at("main").storage);
    CHECK(config->parties.at("main").env.empty());
    CHECK_FALSE(config->parties.at("main").auth.has_value());
    // The file documents the defaults, so it must change when they do.
    CHECK(config->limits.max_connections == defaults.limits.max_connections);
    CHECK(config->limits.max_message_bytes == defaults.limits.max_message_bytes);
    CHECK(config->limits.send_buffer_bytes == defaults.limits.send_buffer_bytes);
    CHECK(config->limits.lua_memory_bytes == defaults.limits.lua_memory_bytes);
    CHECK(config->limits.lua_instructions_per_call == defaults.limits.lua_instructions_per_call);
    CHECK(config->limits.lua_cpu_ms_per_call == defaults.limits.lua_cpu_ms_per_call);
    CHECK(config->limits.idle_room_seconds == defaults.limits.idle_room_seconds);
    CHECK(config->limits.ping_interval_seconds == defaults.limits.ping_interval_seconds);
    CHECK(config->limits.ping_timeout_seconds == defaults.limits.ping_timeout_seconds);
    CHECK(config->limits.max_messages_per_second == defaults.limits.max_messages_per_second);
    CHECK(config->limits.message_burst == defaults.limits.message_burst);
    CHECK(config->limits.http_threads == defaults.limits.http_threads);
    CHECK(config->limits.drain_seconds == defaults.limits.drain_seconds);
    CHECK(config->limits.storage_value_bytes == defaults.limits.storage_value_bytes);
    CHECK(config->limits.max_pending_input_bytes == defaults.limits.max_pending_input_bytes);
    CHECK(config->limits.message_timeout_ms == defaults.limits.message_timeout_ms);
    CHECK(config->limits.max_rooms == defaults.limits.max_rooms);
    CHECK(config->limits.max_new_rooms_per_ip_per_second == defaults.limits.max_new_rooms_per_ip_per_second);
    CHECK(config->limits.new_room_burst == defaults.limits.new_room_burst);
    CHECK(config->log.level == defaults.log.level);
    CHECK(config->log.format == defaults.log.format);
    CHECK(config->fetch.allow.empty());
    CHECK(config->fetch.timeout_ms == defaults.fetch.timeout_ms);
    CHECK(config->fetch.max_response_bytes == defaults.fetch.max_response_bytes);
    CHECK(config->fetch.max_in_flight == defaults.fetch.max_in_flight);
    CHECK(config->fetch.max_redirects == defaults.fetch.max_redirects);
    CHECK(config->fetch.ca_file.empty());
    CHECK_FALSE(config->parties.at("main").fetch.has_value());
}

TEST_CASE("operations keys: rate limit, HTTP threads, drain time and log format") {
    Config config = parsed(
        "limits:\n"
        "  max_messages_per_second: 0\n"
        "  message_burst: 5\n"
        "  http_threads: 64\n"
        "  drain_seconds: 3\n"
        "log: {level: debug, format: json}\n");
    CHECK(config.limits.max_messages_per_second == 0);
    CHECK(config.limits.message_burst == 5);
    CHECK(config.limits.http_threads == 64);
    CHECK(config.limits.drain_seconds == std::chrono::seconds(3));
    CHECK(config.log.level == "debug");
    CHECK(config.log.format == "json");
    CHECK(errorOf("limits:\n  message_burst: 0\n") ==
          "t.yaml:2: limits.message_burst: expected a positive integer, got '0'");
    CHECK(errorOf("limits:\n  http_threads: 2\n") ==
          "t.yaml:2: limits.http_threads: expected an integer from 4 to 10000, got '2'");
    CHECK(
        errorOf("limits:\n  max_messages_per_second: -1\n") ==
        "t.yaml:2: limits.max_messages_per_second: expected a non-negative integer (0: no limit), got '-1'");
    CHECK(errorOf("log:\n  format: text\n") == "t.yaml:2: log.format: expected logfmt or json, got 'text'");
    CHECK(errorOf("log:\n  level: loud\n") ==
          "t.yaml:2: log.level: expected one of debug, info, warn, error, got 'loud'");
}

TEST_CASE("config/cluster.yaml: a node of a three-server NATS cluster") {
    ScopedEnvironment env{{"PARTYLINE_API_KEY", "cluster-key"}};
    auto config = Config::load(shipped("cluster.yaml"));
    REQUIRE_MESSAGE(config.isOk(), config.status().toString());
    CHECK(config->listen == "0.0.0.0:1999");
    CHECK(config->node_id == "auto");
    CHECK(config->nats.url == "nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222");
    CHECK(config->limits.max_rooms == 10000);
    CHECK(config->limits.max_new_rooms_per_ip_per_second == 20);
    CHECK(config->nats.replicas == 3);
    CHECK(config->nats.duplicate_window == std::chrono::minutes(2));
    REQUIRE(config->api.keys.size() == 1);
    CHECK(config->api.keys[0].reveal() == "cluster-key");
    CHECK(config->from_environment == std::set<std::string>{"api.keys[0]"});
    REQUIRE(config->parties.count("main") == 1);
    // Through config/examples, the link to the repository's examples beside the file.
    CHECK(config->parties.at("main").script == shippedScript("examples/chat/room.lua"));
    CHECK(std::filesystem::equivalent(config->parties.at("main").script,
                                      std::string(PARTYLINE_TEST_DIR) + "/../examples/chat/room.lua"));
    CHECK(config->fetch.allow.empty());
    CHECK(config->fetch.timeout_ms == 10000);

    unsetenv("PARTYLINE_API_KEY");
    auto unset = Config::load(shipped("cluster.yaml"));
    REQUIRE_FALSE(unset.isOk());
    CHECK(unset.status().message().find(": api.keys[0]: environment variable PARTYLINE_API_KEY is not set") !=
          std::string::npos);
}

TEST_CASE("a router party names its target party, a shard count and a strategy") {
    Config config = parsed(
        "parties:\n"
        "  router: {router: {target: main, shards: 5, strategy: least-connections}}\n"
        "  main: {script: room.lua}\n");
    const auto& router = config.parties.at("router").router;
    CHECK(router.target == "main");
    CHECK(router.shards == 5);
    CHECK(router.strategy == "least-connections");
    CHECK(config.parties.at("main").router.shards == 0);
}

TEST_CASE("a party announces presence as lists unless it says count") {
    Config config = parsed("parties:\n  a: {script: a.lua}\n  b: {script: b.lua, presence: count}\n");
    CHECK(config.parties.at("a").presence == "list");
    CHECK(config.parties.at("b").presence == "count");
    CHECK(config.describe().find("presence: count") != std::string::npos);
    CHECK(errorOf("parties:\n  a: {script: a.lua, presence: counts}\n") ==
          "t.yaml:2: parties.a.presence: expected list or count, got 'counts'");
    CHECK(errorOf("parties:\n  m: {script: a.lua}\n  r:\n    router: {target: m, shards: 2}\n    presence: "
                  "count\n") ==
          "t.yaml:5: parties.r.presence: a router party announces no presence: set it on its target party");
}

TEST_CASE("router mistakes name the key and the line") {
    CHECK(errorOf("parties:\n  r: {router: {target: nope, shards: 2}}\n") ==
          "t.yaml:2: parties.r.router.target: expected a party with a script, got 'nope'");
    CHECK(errorOf("parties:\n  m: {script: a.lua}\n  r: {router: {target: m, shards: 2, strategy: best}}\n")
              .find("t.yaml:3: parties.r.router.strategy: expected one of random") == 0);
    CHECK(errorOf("parties:\n  m: {script: a.lua}\n  r: {script: b.lua, router: {target: m, shards: 2}}\n") ==
          "t.yaml:3: parties.r: a party has either a script or a router, not both");
    CHECK(errorOf("parties:\n  m: {script: a.lua}\n  r: {router: {target: m}}\n") ==
          "t.yaml:3: parties.r.router: needs both 'target' and 'shards'");
    CHECK(errorOf("parties:\n  m: {script: a.lua}\n  r: {router: {target: m, shards: 0}}\n").find("shards") !=
          std::string::npos);
}

TEST_CASE("a stray ',' is a syntax error, not an endless stream of empty documents") {
    // yaml-cpp 0.7's LoadAll looped on these, allocating until the process was killed (found by
    // tests/fuzz/config/ConfigFuzz; the inputs are in its corpus).
    CHECK(errorOf(",\n") == "t.yaml:1: YAML syntax error: unexpected ','");
    CHECK(errorOf(",") == "t.yaml:1: YAML syntax error: unexpected ','");
    CHECK(errorOf(" a:\n,b\nc: d\n") == "t.yaml:2: YAML syntax error: unexpected ','");
    CHECK(errorOf("listen: :1\n---\n,\n") == "t.yaml:3: YAML syntax error: unexpected ','");
}

// ---------------------------------------------------------------------------------------------
// Values from the environment, secrets, and the keys of the control surface, origins and auth.

namespace {

constexpr const char* kSecret = "s3cr3t-value-that-must-never-be-printed-anywhere!";
constexpr const char* kJwtSecret = "a-jwt-secret-of-more-than-sixty-four-bytes-0123456789abcdef0123456789";

std::string publicKeyFile(const std::string& name, const std::string& text) {
    auto dir = std::filesystem::temp_directory_path() / "partyline-config-keys";
    std::filesystem::create_directories(dir);
    auto path = (dir / name).string();
    std::ofstream(path) << text;
    return path;
}

const char* kPublicKeyPem =
    "-----BEGIN PUBLIC KEY-----\n"
    "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
    "-----END PUBLIC KEY-----\n";

}  // namespace

TEST_CASE("${NAME} in any string value is replaced from the environment") {
    ScopedEnvironment env{{"PARTYLINE_TEST_LISTEN", ":2001"},
                          {"PARTYLINE_TEST_REGION", "eu"},
                          {"PARTYLINE_TEST_N", "7"},
                          {"PARTYLINE_TEST_DIR", "/srv"}};
    Config config = parsed(
        "listen: \"${PARTYLINE_TEST_LISTEN}\"\n"
        "node_id: ${PARTYLINE_TEST_REGION}-${PARTYLINE_TEST_N}\n"
        "data_dir: ${PARTYLINE_TEST_DIR}/partyline\n"
        "limits: {max_connections: \"${PARTYLINE_TEST_N}\"}\n");
    CHECK(config.listen == ":2001");
    CHECK(config.node_id == "eu-7");
    CHECK(config.data_dir == "/srv/partyline");
    CHECK(config.limits.max_connections == 7);
    CHECK(config.from_environment ==
          std::set<std::string>{"listen", "node_id", "data_dir", "limits.max_connections"});
}

TEST_CASE("${NAME:-default} takes the default when the variable is unset or empty") {
    ScopedEnvironment env{{"PARTYLINE_TEST_EMPTY", ""}, {"PARTYLINE_TEST_SET", "node-9"}};
    CHECK(parsed("listen: \"${PARTYLINE_TEST_UNSET:-:3000}\"\n").listen == ":3000");
    CHECK(parsed("node_id: ${PARTYLINE_TEST_EMPTY:-fallback}\n").node_id == "fallback");
    CHECK(parsed("node_id: ${PARTYLINE_TEST_SET:-fallback}\n").node_id == "node-9");
    // A default is the file's own text, so it is not counted as taken from the environment.
    CHECK(parsed("node_id: ${PARTYLINE_TEST_UNSET:-n1}\n").from_environment.empty());
    CHECK(parsed("node_id: ${PARTYLINE_TEST_SET:-n1}\n").from_environment ==
          std::set<std::string>{"node_id"});
}

TEST_CASE("$${ is a literal ${ and a lone $ is kept") {
    Config config = parsed(
        "parties:\n"
        "  main:\n"
        "    script: a.lua\n"
        "    env: {LITERAL: \"$${HOME}\", DOLLAR: \"a$b$\", BOTH: \"$${X}${PARTYLINE_TEST_UNSET:-y}\"}\n");
    const auto& env = config.parties.at("main").env;
    CHECK(env.at("LITERAL").reveal() == "${HOME}");
    CHECK(env.at("DOLLAR").reveal() == "a$b$");
    CHECK(env.at("BOTH").reveal() == "${X}y");
}

TEST_CASE("an unset variable without a default names the file, the line, the key and the variable") {
    CHECK(errorOf("listen: :1\napi:\n  keys: [\"${PARTYLINE_TEST_UNSET}\"]\n") ==
          "t.yaml:3: api.keys[0]: environment variable PARTYLINE_TEST_UNSET is not set (write "
          "${PARTYLINE_TEST_UNSET:-default} to give a default)");
    CHECK(errorOf("nats:\n  url: ${PARTYLINE_TEST_NATS}\n") ==
          "t.yaml:2: nats.url: environment variable PARTYLINE_TEST_NATS is not set (write "
          "${PARTYLINE_TEST_NATS:-default} to give a default)");

    auto path = publicKeyFile("unset.yaml",
                              "parties:\n  m:\n    script: a.lua\n    env: {K: \"${PARTYLINE_TEST_K}\"}\n");
    auto config = Config::load(path);
    REQUIRE_FALSE(config.isOk());
    CHECK(config.status().message() == path +
                                           ":4: parties.m.env.K: environment variable PARTYLINE_TEST_K is "
                                           "not set (write ${PARTYLINE_TEST_K:-default} to give a default)");
}

TEST_CASE("a malformed ${...} is an error that does not quote the value") {
    for (const char* value : {"${", "${NAME", "${}", "${1ABC}", "${A-B}", "${A:-${B}}", "x${ A }"}) {
        CAPTURE(value);
        CHECK(errorOf(std::string("node_id: '") + value + "'\n") ==
              "t.yaml:1: node_id: expected ${NAME} or ${NAME:-default}, NAME of A-Z a-z 0-9 _ not starting "
              "with a digit (write $${ for a literal ${)");
    }
}

TEST_CASE("a bad value taken from the environment is shown as <set>, never quoted") {
    ScopedEnvironment env{{"PARTYLINE_TEST_LISTEN", kSecret}};
    std::string message = errorOf("listen: \"${PARTYLINE_TEST_LISTEN}\"\n");
    CHECK(message.find(kSecret) == std::string::npos);
    CHECK(message ==
          "t.yaml:1: listen: expected HOST:PORT with a port from 0 (any free port) to 65535 (HOST: empty for "
          "all "
          "interfaces, IPv4, [IPv6] or a name), got <set>");
}

TEST_CASE("describe() prints the configuration with secrets and values from the environment as <set>") {
    ScopedEnvironment env{{"PARTYLINE_TEST_KEY", kSecret},
                          {"PARTYLINE_TEST_NATS", "nats://user:pass-from-env@nats:4222"},
                          {"PARTYLINE_TEST_JWT", kJwtSecret}};
    Config config = parsed(
        "nats: {url: \"${PARTYLINE_TEST_NATS}\", max_age: 1h}\n"
        "api: {keys: [\"${PARTYLINE_TEST_KEY}\", written-in-the-file-key]}\n"
        "origins: [\"https://app.example.com\"]\n"
        "parties:\n"
        "  game:\n"
        "    script: game.lua\n"
        "    env: {TOKEN: written-in-the-file-env, FROM_ENV: \"${PARTYLINE_TEST_KEY}\"}\n"
        "    auth:\n"
        "      jwt: {secret: \"${PARTYLINE_TEST_JWT}\", algorithms: [HS256, HS512], audience: partyline}\n");
    CHECK(config.api.keys.size() == 2);
    CHECK(config.api.keys[0].reveal() == kSecret);
    CHECK(config.parties.at("game").auth->jwt.secret.reveal() == kJwtSecret);

    std::string yaml = config.describe();
    CAPTURE(yaml);
    for (const char* hidden :
         {kSecret, kJwtSecret, "pass-from-env", "written-in-the-file-key", "written-in-the-file-env"})
        CHECK(yaml.find(hidden) == std::string::npos);
    CHECK(yaml.find("url: <set>") != std::string::npos);
    CHECK(yaml.find("keys: [<set>, <set>]") != std::string::npos);
    CHECK(yaml.find("TOKEN: <set>") != std::string::npos);
    CHECK(yaml.find("FROM_ENV: <set>") != std::string::npos);
    CHECK(yaml.find("secret: <set>") != std::string::npos);
    CHECK(yaml.find("max_age: 1h") != std::string::npos);
    CHECK(yaml.find("duplicate_window: 2m") != std::string::npos);
    CHECK(yaml.find("algorithms: [HS256, HS512]") != std::string::npos);
    CHECK(yaml.find("audience: partyline") != std::string::npos);
    CHECK(yaml.find("https://app.example.com") != std::string::npos);

    std::ostringstream streamed;
    streamed << config.api.keys[0];
    CHECK(streamed.str() == "<set>");
    CHECK(toString(config.api.keys[0]) == "<set>");
}

TEST_CASE("describe() of a configuration without secrets reads back as the same configuration") {
    Config config = parsed(
        "listen: \"[::1]:8080\"\n"
        "nats: {url: \"nats://a:4222,nats://b:4222\", replicas: 3, max_age: 90m, duplicate_window: 30s}\n"
        "origins: [\"https://*.example.com\", \"http://localhost:5173\"]\n"
        "api: {insecure: true}\n"
        "parties:\n"
        "  main: {script: a.lua, storage: true}\n"
        "  big: {router: {target: main, shards: 4, strategy: hash}}\n"
        "limits: {ping_interval_seconds: 5, ping_timeout_seconds: 9}\n"
        "log: {format: json}\n");
    std::string yaml = config.describe();
    Config again = parsed(yaml);
    CHECK(again.describe() == yaml);
    CHECK(again.nats.duplicate_window == 30s);
    CHECK(again.nats.max_age == 90min);
    CHECK(again.origins == config.origins);
    CHECK(again.api.insecure);
    CHECK(again.parties.at("big").router.shards == 4);
}

TEST_CASE("api.keys and api.insecure: defaults, and keys that are read") {
    Config defaults = parsed("");
    CHECK(defaults.api.keys.empty());
    CHECK_FALSE(defaults.api.insecure);
    Config config = parsed("api:\n  keys: [abc, \"Zm9v+/=-_.~!\"]\n");
    REQUIRE(config.api.keys.size() == 2);
    CHECK(config.api.keys[0].reveal() == "abc");
    CHECK(config.api.keys[1].reveal() == "Zm9v+/=-_.~!");
    CHECK(parsed("api:\n  keys: [" + std::string(256, 'k') + "]\n").api.keys[0].reveal().size() == 256);
    CHECK(parsed("api: {insecure: true}\n").api.insecure);
    CHECK(parsed("api:\n  keys:\n").api.keys.empty());
}

TEST_CASE("a bad api key names the key and its line and never shows the key") {
    const std::string expected =
        "api.keys[1]: expected a key of 1 to 256 printable ASCII characters without spaces, got ";
    CHECK(errorOf("api:\n  keys:\n    - good\n    - \"two words\"\n") == "t.yaml:4: " + expected + "<set>");
    CHECK(errorOf("api:\n  keys: [good, \"cl\xc3\xa9\"]\n") == "t.yaml:2: " + expected + "<set>");
    CHECK(errorOf("api:\n  keys: [good, \"tab\tbed\"]\n") == "t.yaml:2: " + expected + "<set>");
    CHECK(errorOf("api:\n  keys: [good, " + std::string(257, 'k') + "]\n") ==
          "t.yaml:2: " + expected + "<set>");
    // An empty key, written so or from an empty variable, says it is empty.
    CHECK(errorOf("api:\n  keys: [good, \"\"]\n") == "t.yaml:2: " + expected + "''");
    {
        ScopedEnvironment env{{"PARTYLINE_TEST_EMPTY", ""}};
        CHECK(errorOf("api:\n  keys: [good, \"${PARTYLINE_TEST_EMPTY}\"]\n") ==
              "t.yaml:2: " + expected + "''");
    }
    CHECK(
        errorOf("api:\n  keys: my-secret-key\n") ==
        "t.yaml:2: api.keys: expected a list of a key of 1 to 256 printable ASCII characters without spaces, "
        "got <set>");
    CHECK(errorOf("api:\n  keys: [same-key, other, same-key]\n") ==
          "t.yaml:2: api.keys[2]: the same key as api.keys[0]");
    CHECK(errorOf("api:\n  keys: [k]\n  insecure: true\n") ==
          "t.yaml:3: api.insecure: true opens the control API to every peer, yet api.keys are set; remove "
          "one of them");
    CHECK(errorOf("api:\n  insecure: yes please\n") ==
          "t.yaml:2: api.insecure: expected true or false, got 'yes please'");
    CHECK(errorOf("api:\n  key: [k]\n") == "t.yaml:2: unknown key 'api.key'; did you mean 'keys'?");
    CHECK(errorOf("keys: [k]\n") == "t.yaml:1: unknown key 'keys'; did you mean 'api.keys'?");
}

TEST_CASE("origins are http(s)://host[:port] or http(s)://*.domain[:port]") {
    Config config = parsed(
        "origins:\n"
        "  - https://app.example.com\n"
        "  - https://*.example.com\n"
        "  - http://localhost:5173\n"
        "  - HTTPS://Admin.Example.COM:8443\n"
        "  - https://secure.example.com:443\n"
        "  - http://[::1]:3000\n"
        "  - http://localhost:80\n");
    CHECK(config.origins ==
          std::vector<std::string>{"https://app.example.com", "https://*.example.com",
                                   "http://localhost:5173", "https://admin.example.com:8443",
                                   "https://secure.example.com", "http://[::1]:3000", "http://localhost"});
    CHECK(parsed("").origins.empty());
}

TEST_CASE("an origin with a path, no scheme or a bad host names the item and its line") {
    for (const char* origin : {"https://app.example.com/",
                               "https://app.example.com/app",
                               "app.example.com",
                               "*",
                               "null",
                               "https://",
                               "https://*.",
                               "https://a..com",
                               "https://a.com.",
                               "https://a.com:0",
                               "https://a.com:99999",
                               "https://user@a.com",
                               "https://a.com?x=1",
                               "https://a.com#top",
                               "https://*",
                               "https://a.*.com",
                               "://a.com",
                               "1http://a.com",
                               "https://-a.com",
                               "ftp://a.com",
                               "capacitor://localhost",
                               "ws://a.com"}) {
        CAPTURE(origin);
        CHECK(errorOf(std::string("origins:\n  - https://ok.example.com\n  - \"") + origin + "\"\n") ==
              std::string("t.yaml:3: origins[1]: expected an origin http(s)://host[:port] or "
                          "http(s)://*.domain[:port], without a path, got '") +
                  origin + "'");
    }
    CHECK(errorOf("origins: https://a.com\n").find("t.yaml:1: origins: expected a list of an origin") == 0);
}

TEST_CASE("parties.X.env: names of A-Z a-z 0-9 _, values kept as secrets") {
    ScopedEnvironment env{{"PARTYLINE_TEST_BACKEND", "https://backend.internal"}};
    Config config = parsed(
        "parties:\n"
        "  game:\n"
        "    script: game.lua\n"
        "    env: {BACKEND_URL: \"${PARTYLINE_TEST_BACKEND}\", _private: x, Key2: \"\", PORT: 8080}\n");
    const auto& values = config.parties.at("game").env;
    REQUIRE(values.size() == 4);
    CHECK(values.at("BACKEND_URL").reveal() == "https://backend.internal");
    CHECK(values.at("_private").reveal() == "x");
    CHECK(values.at("Key2").reveal().empty());
    CHECK(values.at("PORT").reveal() == "8080");
    CHECK(parsed("parties: {m: {script: a.lua}}\n").parties.at("m").env.empty());
    CHECK(config.from_environment.count("parties.game.env.BACKEND_URL") == 1);
}

TEST_CASE("a bad parties.X.env names the key and its line and never shows a value") {
    const std::string party = "parties:\n  m:\n    script: a.lua\n";
    for (const char* name : {"1ABC", "A-B", "A.B", "\"A B\""}) {
        CAPTURE(name);
        CHECK(
            errorOf(party + "    env:\n      " + name + ": v\n")
                .find("t.yaml:5: parties.m.env: expected a name of 1 to 128 characters of A-Z a-z 0-9 _, not "
                      "starting with a digit, got '") == 0);
    }
    CHECK(errorOf(party + "    env: {A: {nested: secret-value}}\n") ==
          "t.yaml:4: parties.m.env.A: expected a string of at most 64 KiB, got a map");
    CHECK(errorOf(party + "    env: {A: [x]}\n") ==
          "t.yaml:4: parties.m.env.A: expected a string of at most 64 KiB, got a list");
    CHECK(errorOf(party + "    env: {A: " + std::string(64 * 1024 + 1, 'v') + "}\n") ==
          "t.yaml:4: parties.m.env.A: expected a string of at most 64 KiB, got <set>");
    CHECK(errorOf(party + "    env: SECRET=value\n") ==
          "t.yaml:4: parties.m.env: expected a map of NAME: value, got <set>");
    CHECK(errorOf(party + "    env: [A, B]\n") == "t.yaml:4: parties.m.env: expected a map, got a list");
}

TEST_CASE("parties.X.auth.jwt with a secret: defaults and every key") {
    Config config = parsed(std::string("parties:\n"
                                       "  game:\n"
                                       "    script: game.lua\n"
                                       "    auth:\n"
                                       "      jwt:\n"
                                       "        secret: ") +
                           kJwtSecret +
                           "\n"
                           "        algorithms: [HS256, HS384, HS512]\n");
    const auto& auth = config.parties.at("game").auth;
    REQUIRE(auth.has_value());
    CHECK(auth->required);
    CHECK(auth->jwt.secret.reveal() == kJwtSecret);
    CHECK(auth->jwt.public_key.empty());
    CHECK(auth->jwt.algorithms == std::vector<std::string>{"HS256", "HS384", "HS512"});
    CHECK(auth->jwt.audience.empty());
    CHECK(auth->jwt.issuer.empty());
    CHECK(auth->jwt.leeway_seconds == 30s);
    CHECK_FALSE(parsed("parties: {m: {script: a.lua}}\n").parties.at("m").auth.has_value());

    Config optional = parsed(
        "parties:\n"
        "  m:\n"
        "    script: a.lua\n"
        "    auth:\n"
        "      required: false\n"
        "      jwt: {secret: 0123456789abcdef0123456789abcdef, algorithms: [HS256], audience: partyline,\n"
        "            issuer: \"https://auth.example.com\", leeway_seconds: 0}\n");
    const auto& loose = *optional.parties.at("m").auth;
    CHECK_FALSE(loose.required);
    CHECK(loose.jwt.audience == "partyline");
    CHECK(loose.jwt.issuer == "https://auth.example.com");
    CHECK(loose.jwt.leeway_seconds == 0s);
}

TEST_CASE("parties.X.auth.jwt with a public key reads the PEM file at start") {
    auto path = publicKeyFile("auth.pem", kPublicKeyPem);
    Config config = parsed("parties:\n  m:\n    script: a.lua\n    auth:\n      jwt: {public_key: " + path +
                           ", algorithms: [RS256, ES256, EdDSA]}\n");
    const auto& jwt = config.parties.at("m").auth->jwt;
    CHECK(jwt.public_key == path);
    CHECK(jwt.public_key_pem == kPublicKeyPem);
    CHECK(jwt.secret.empty());
    CHECK(jwt.algorithms == std::vector<std::string>{"RS256", "ES256", "EdDSA"});
}

TEST_CASE("auth mistakes name the key and its line and never show the secret") {
    const std::string party = "parties:\n  m:\n    script: a.lua\n    auth:\n";
    const std::string secret = std::string("secret: ") + kJwtSecret;
    auto pem = publicKeyFile("good.pem", kPublicKeyPem);
    auto error = [&](const std::string& auth) {
        std::string message = errorOf(party + auth);
        CHECK(message.find(kJwtSecret) == std::string::npos);
        return message;
    };
    CHECK(error("      required: true\n") == "t.yaml:4: parties.m.auth: missing required key 'jwt'");
    CHECK(
        error("      jwt:\n        algorithms: [HS256]\n") ==
        "t.yaml:5: parties.m.auth.jwt: needs 'secret' (for HS256, HS384, HS512) or 'public_key' (a PEM file, "
        "for RS256, ES256, EdDSA)");
    CHECK(error("      jwt:\n        " + secret + "\n        public_key: " + pem +
                "\n        algorithms: [HS256]\n") ==
          "t.yaml:7: parties.m.auth.jwt: secret and public_key exclude each other; give one");
    CHECK(error("      jwt:\n        " + secret + "\n") ==
          "t.yaml:5: parties.m.auth.jwt: missing required key 'algorithms'");
    CHECK(error("      jwt:\n        " + secret + "\n        algorithms: []\n") ==
          "t.yaml:7: parties.m.auth.jwt.algorithms: expected at least one algorithm");
    for (const char* algorithm : {"none", "None", "hs256", "RS512", "PS256"}) {
        CAPTURE(algorithm);
        CHECK(error("      jwt:\n        " + secret + "\n        algorithms: [HS256, " + algorithm + "]\n") ==
              std::string("t.yaml:7: parties.m.auth.jwt.algorithms[1]: expected one of HS256, HS384, HS512, "
                          "RS256, ES256, EdDSA ('none' is never accepted), got '") +
                  algorithm + "'");
    }
    CHECK(error("      jwt:\n        " + secret +
                "\n        algorithms:\n          - HS256\n          - RS256\n") ==
          "t.yaml:9: parties.m.auth.jwt.algorithms[1]: RS256 needs public_key, not secret");
    CHECK(error("      jwt:\n        public_key: " + pem + "\n        algorithms: [HS256]\n") ==
          "t.yaml:7: parties.m.auth.jwt.algorithms[0]: HS256 needs secret, not public_key");
    CHECK(error("      jwt:\n        secret: short\n        algorithms: [HS256]\n") ==
          "t.yaml:6: parties.m.auth.jwt.secret: HS256 needs a secret of at least 32 bytes (RFC 7518, 3.2)");
    CHECK(error("      jwt:\n        secret: 0123456789abcdef0123456789abcdef\n        algorithms: [HS256, "
                "HS512]\n") ==
          "t.yaml:6: parties.m.auth.jwt.secret: HS512 needs a secret of at least 64 bytes (RFC 7518, 3.2)");
    CHECK(error("      jwt:\n        secret: ''\n        algorithms: [HS256]\n") ==
          "t.yaml:6: parties.m.auth.jwt.secret: expected a non-empty secret of at most 4096 bytes, got ''");
    CHECK(
        error("      jwt:\n        secret: [" + std::string(kJwtSecret) +
              "]\n        algorithms: [HS256]\n") ==
        "t.yaml:6: parties.m.auth.jwt.secret: expected a non-empty secret of at most 4096 bytes, got a list");
    CHECK(error("      jwt:\n        " + secret +
                "\n        algorithms: [HS256]\n        leeway_seconds: -1\n") ==
          "t.yaml:8: parties.m.auth.jwt.leeway_seconds: expected an integer from 0 to 3600, got '-1'");
    CHECK(error("      jwt:\n        " + secret +
                "\n        algorithms: [HS256]\n        leeway_seconds: 3601\n") ==
          "t.yaml:8: parties.m.auth.jwt.leeway_seconds: expected an integer from 0 to 3600, got '3601'");
    CHECK(error("      jwt:\n        " + secret + "\n        algorithms: [HS256]\n        audience: ''\n") ==
          "t.yaml:8: parties.m.auth.jwt.audience: expected a non-empty string, got ''");
    CHECK(error("      jwt:\n        " + secret + "\n        algorithms: [HS256]\n      required: maybe\n") ==
          "t.yaml:8: parties.m.auth.required: expected true or false, got 'maybe'");
    CHECK(error("      jwt:\n        secrte: x\n") ==
          "t.yaml:6: unknown key 'parties.m.auth.jwt.secrte'; did you mean 'secret'?");
}

TEST_CASE("a public_key that is missing, not PEM or private is refused with the key and its line") {
    const std::string party =
        "parties:\n  m:\n    script: a.lua\n    auth:\n      jwt:\n        algorithms: [ES256]\n";
    CHECK(errorOf(party + "        public_key: /nonexistent/auth.pem\n") ==
          "t.yaml:7: parties.m.auth.jwt.public_key: no such file '/nonexistent/auth.pem'");
    auto text = publicKeyFile("text.pem", "not a key\n");
    CHECK(errorOf(party + "        public_key: " + text + "\n") ==
          "t.yaml:7: parties.m.auth.jwt.public_key: '" + text + "' is not a PEM file (no -----BEGIN line)");
    auto privateKey =
        publicKeyFile("private.pem", "-----BEGIN PRIVATE KEY-----\nMC4=\n-----END PRIVATE KEY-----\n");
    CHECK(errorOf(party + "        public_key: " + privateKey + "\n") ==
          "t.yaml:7: parties.m.auth.jwt.public_key: '" + privateKey +
              "' holds a private key; give its public key (openssl pkey -in KEY -pubout)");
    CHECK(errorOf(party + "        public_key: " + std::filesystem::temp_directory_path().string() + "\n") ==
          "t.yaml:7: parties.m.auth.jwt.public_key: '" + std::filesystem::temp_directory_path().string() +
              "' is not a file");
    ScopedEnvironment env{{"PARTYLINE_TEST_PEM", "/nonexistent/from-env.pem"}};
    CHECK(errorOf(party + "        public_key: ${PARTYLINE_TEST_PEM}\n") ==
          "t.yaml:7: parties.m.auth.jwt.public_key: no such file '<set>'");
}

TEST_CASE("nats.duplicate_window: 2m by default (max_age if shorter), at least 10s, at most max_age") {
    CHECK(parsed("").nats.duplicate_window == 2min);
    CHECK(parsed("nats: {duplicate_window: 10m}\n").nats.duplicate_window == 10min);
    CHECK(parsed("nats: {duplicate_window: 10}\n").nats.duplicate_window == 10s);
    for (const char* window : {"9s", "0", "5000ms", "soon", "-1m"}) {
        CAPTURE(window);
        CHECK(errorOf(std::string("nats:\n  duplicate_window: ") + window + "\n") ==
              std::string(
                  "t.yaml:2: nats.duplicate_window: expected a duration of at least 10s, such as 2m, 90s "
                  "or a number of seconds, got '") +
                  window + "'");
    }
    CHECK(errorOf("nats:\n  max_age: 1m\n  duplicate_window: 90s\n") ==
          "t.yaml:3: nats.duplicate_window (90s) must not be longer than nats.max_age (1m)");
    // Left out, it follows a retention shorter than 2m, as JetStream's own default does.
    CHECK(parsed("nats:\n  max_age: 30s\n").nats.duplicate_window == 30s);
    CHECK(parsed("nats:\n  max_age: 5s\n").nats.duplicate_window == 5s);
}

TEST_CASE("the front door's limits: defaults, values and bounds") {
    Config defaults = parsed("");
    CHECK(defaults.limits.header_timeout_ms == 10000ms);
    CHECK(defaults.limits.body_timeout_ms == 10000ms);
    CHECK(defaults.limits.max_connections_per_ip == 256);
    CHECK(defaults.limits.max_new_connections_per_ip_per_second == 100);
    CHECK(defaults.limits.max_headers == 63);
    CHECK(defaults.trusted_proxies.empty());
    Config set = parsed(
        "limits:\n  header_timeout_ms: 2500\n  body_timeout_ms: 100\n  max_connections_per_ip: 0\n"
        "  max_new_connections_per_ip_per_second: 0\n  max_headers: 1\n");
    CHECK(set.limits.header_timeout_ms == 2500ms);
    CHECK(set.limits.body_timeout_ms == 100ms);
    CHECK(set.limits.max_connections_per_ip == 0);
    CHECK(set.limits.max_new_connections_per_ip_per_second == 0);
    CHECK(set.limits.max_headers == 1);
    for (const char* bad : {"99", "600001", "10s", "-1", "1e4"}) {
        CAPTURE(bad);
        CHECK(errorOf(std::string("limits:\n  body_timeout_ms: ") + bad + "\n") ==
              std::string("t.yaml:2: limits.body_timeout_ms: expected an integer number of milliseconds from "
                          "100 to 600000, got '") +
                  bad + "'");
    }
    // CivetWeb keeps 64 headers: a count it could have cut is never a limit partyline can check.
    CHECK(errorOf("limits:\n  max_headers: 64\n") ==
          "t.yaml:2: limits.max_headers: expected an integer from 1 to 63, got '64'");
    CHECK(errorOf("limits:\n  max_headers: 0\n") ==
          "t.yaml:2: limits.max_headers: expected an integer from 1 to 63, got '0'");
}

TEST_CASE("trusted_proxies takes addresses and CIDR blocks, never names") {
    Config config = parsed("trusted_proxies: [\"10.0.0.0/8\", \"127.0.0.1\", \"fd00::/8\"]\n");
    CHECK(config.trusted_proxies == std::vector<std::string>{"10.0.0.0/8", "127.0.0.1", "fd00::/8"});
    CHECK(errorOf("trusted_proxies:\n  - haproxy\n") ==
          "t.yaml:2: trusted_proxies[0]: expected a numeric IP address or CIDR block such as 10.0.0.0/8 or "
          "fd00::/8, got 'haproxy'");
    CHECK(errorOf("trusted_proxies: [\"10.0.0.0/33\"]\n").find("trusted_proxies[0]: expected a numeric IP") !=
          std::string::npos);
    CHECK(parsed(config.describe()).trusted_proxies == config.trusted_proxies);
}

TEST_CASE("a bounded log: page budget, write rate, stream size and message size") {
    Config defaults = parsed("");
    CHECK(defaults.limits.max_history_page_bytes == 1024 * 1024);
    CHECK(defaults.limits.max_write_bytes_per_second_per_ip == 16 * 1024 * 1024);
    CHECK(defaults.nats.max_bytes == size_t(1) * 1024 * 1024 * 1024);
    CHECK(defaults.nats.max_msg_size == 1024 * 1024 + NatsConfig::kMaxMsgSizeHeadroom);
    CHECK(Config{}.nats.max_msg_size == defaults.nats.max_msg_size);

    Config set = parsed(
        "nats:\n  max_bytes: 2GiB\n  max_msg_size: 3MiB\nlimits:\n  max_message_bytes: 2MiB\n"
        "  max_history_page_bytes: 256KiB\n  max_write_bytes_per_second_per_ip: 0\n");
    CHECK(set.nats.max_bytes == size_t(2) << 30);
    CHECK(set.nats.max_msg_size == 3 << 20);
    CHECK(set.limits.max_history_page_bytes == 256 << 10);
    CHECK(set.limits.max_write_bytes_per_second_per_ip == 0);
    // Left out, the message size follows max_message_bytes.
    CHECK(parsed("limits:\n  max_message_bytes: 4MiB\n").nats.max_msg_size ==
          (4 << 20) + NatsConfig::kMaxMsgSizeHeadroom);
    CHECK(parsed("limits:\n  max_write_bytes_per_second_per_ip: 1MiB\n")
              .limits.max_write_bytes_per_second_per_ip == 1 << 20);
}

TEST_CASE("the log must store every write the node accepts") {
    CHECK(errorOf("nats:\n  max_msg_size: 512KiB\n") ==
          "t.yaml:2: nats.max_msg_size (524288) must be at least limits.max_message_bytes (1048576), or the "
          "log would refuse writes the node accepts");
    CHECK(errorOf("nats:\n  max_bytes: 1MiB\n")
              .find("t.yaml:2: nats.max_msg_size (1114112) must not be larger "
                    "than nats.max_bytes (1048576)") == 0);
    CHECK(errorOf("nats:\n  max_msg_size: 3GiB\nlimits:\n  max_message_bytes: 3GiB\n")
              .find("must be under 2 GiB") != std::string::npos);
    CHECK(errorOf("nats:\n  max_bytes: 0\n").find("t.yaml:2: nats.max_bytes: expected a positive integer") ==
          0);
    CHECK(errorOf("limits:\n  max_history_page_bytes: 0\n")
              .find("t.yaml:2: limits.max_history_page_bytes: expected a positive integer") == 0);
    CHECK(errorOf("limits:\n  max_write_bytes_per_second_per_ip: -1\n")
              .find("t.yaml:2: limits.max_write_bytes_per_second_per_ip: expected 0 (no limit)") == 0);
}

// ---------------------------------------------------------------------------------------------
// fetch: the hosts room scripts may call, and the limits of each call.

TEST_CASE("fetch: no host allowed by default, and every key read") {
    const Config defaults = parsed("");
    CHECK(defaults.fetch.allow.empty());
    CHECK(defaults.fetch.timeout_ms == 10000);
    CHECK(defaults.fetch.max_response_bytes == 1024 * 1024);
    CHECK(defaults.fetch.max_in_flight == 1000);
    CHECK(defaults.fetch.max_redirects == 3);
    CHECK(defaults.fetch.ca_file.empty());
    CHECK_FALSE(parsed("parties: {m: {script: a.lua}}\n").parties.at("m").fetch.has_value());

    auto ca = publicKeyFile("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    Config config = parsed(
        "fetch:\n"
        "  allow: [\"api.example.com\", \"*.internal.example.com\", \"127.0.0.1:8080\", \"[::1]:9000\"]\n"
        "  timeout_ms: 2500\n"
        "  max_response_bytes: 64KiB\n"
        "  max_in_flight: 20\n"
        "  max_redirects: 0\n"
        "  ca_file: " +
        ca +
        "\n"
        "parties:\n"
        "  game: {script: g.lua, fetch: {allow: [api.example.com]}}\n"
        "  closed: {script: c.lua, fetch: {allow: []}}\n");
    CHECK(config.fetch.allow == std::vector<std::string>{"api.example.com", "*.internal.example.com",
                                                         "127.0.0.1:8080", "[::1]:9000"});
    CHECK(config.fetch.timeout_ms == 2500);
    CHECK(config.fetch.max_response_bytes == 64 * 1024);
    CHECK(config.fetch.max_in_flight == 20);
    CHECK(config.fetch.max_redirects == 0);
    CHECK(config.fetch.ca_file == ca);
    REQUIRE(config.parties.at("game").fetch.has_value());
    CHECK(config.parties.at("game").fetch->allow == std::vector<std::string>{"api.example.com"});
    REQUIRE(config.parties.at("closed").fetch.has_value());
    CHECK(config.parties.at("closed").fetch->allow.empty());
    // describe() shows the section, and reads back the same.
    Config again = parsed(config.describe());
    CHECK(again.fetch.allow == config.fetch.allow);
    CHECK(again.fetch.timeout_ms == 2500);
    CHECK(again.fetch.ca_file == ca);
    CHECK(again.parties.at("game").fetch->allow == config.parties.at("game").fetch->allow);
}

TEST_CASE("fetch.allow entries: what the node's policy matches, each bad one named with its line") {
    // Every entry the configuration takes is one FetchPolicy takes, so none is silently dropped.
    for (const char* entry : {"api.example.com", "API.Example.com", "*.example.com", "*.example.com:8443",
                              "backend", "backend:8080", "10.0.0.5", "127.0.0.1:8080", "[::1]", "[::1]:8080",
                              "[fd00::1]:443", "my_service:3000"}) {
        CAPTURE(entry);
        CHECK(parsed(std::string("fetch: {allow: [\"") + entry + "\"]}\n").fetch.allow.size() == 1);
        CHECK(net::FetchPolicy::checkEntry(entry).isOk());
    }
    for (const char* entry : {"", "*", "*.", "*.*.example.com", "http://api.example.com", "api.example.com/",
                              "api.example.com/path", "user@api.example.com",
                              "api.example.com:", "api.example.com:0", "api.example.com:99999", "*.10.0.0.1",
                              "*.[::1]", "::1", "a..com", "-a.com", "api.example.com.", "a b", "1.2.3"}) {
        CAPTURE(entry);
        CHECK(errorOf(std::string("fetch:\n  allow:\n    - ok.example.com\n    - \"") + entry + "\"\n") ==
              std::string("t.yaml:4: fetch.allow[1]: expected a host, host:port, *.domain or an IP address "
                          "(IPv6 in []), got '") +
                  entry + "'");
    }
    CHECK(errorOf("fetch:\n  allow: api.example.com\n") ==
          "t.yaml:2: fetch.allow: expected a list of a host, host:port, *.domain or an IP address (IPv6 in "
          "[]), "
          "got 'api.example.com'");
    CHECK(
        errorOf("fetch: {allow: [a.com]}\nparties:\n  m:\n    script: a.lua\n    fetch:\n      allow: "
                "[\"x/\"]\n") ==
        "t.yaml:6: parties.m.fetch.allow[0]: expected a host, host:port, *.domain or an IP address (IPv6 in "
        "[]), got 'x/'");
}

TEST_CASE("fetch limits out of range name the key, the line and the text") {
    CHECK(errorOf("fetch:\n  timeout_ms: 0\n") ==
          "t.yaml:2: fetch.timeout_ms: expected a number of milliseconds from 1 to 600000, got '0'");
    CHECK(errorOf("fetch:\n  timeout_ms: 10s\n") ==
          "t.yaml:2: fetch.timeout_ms: expected a number of milliseconds from 1 to 600000, got '10s'");
    CHECK(errorOf("fetch:\n  timeout_ms: 600001\n") ==
          "t.yaml:2: fetch.timeout_ms: expected a number of milliseconds from 1 to 600000, got '600001'");
    CHECK(errorOf("fetch:\n  max_in_flight: 0\n") ==
          "t.yaml:2: fetch.max_in_flight: expected an integer from 1 to 100000, got '0'");
    CHECK(errorOf("fetch:\n  max_redirects: 21\n") ==
          "t.yaml:2: fetch.max_redirects: expected an integer from 0 to 20, got '21'");
    CHECK(errorOf("fetch:\n  max_response_bytes: lots\n") ==
          "t.yaml:2: fetch.max_response_bytes: expected a positive integer or a size such as 512KiB, 1MiB, "
          "16MB, got 'lots'");
    CHECK(errorOf("fetch:\n  max_response_bytes: 32MiB\n") ==
          "t.yaml:2: fetch.max_response_bytes (33554432) must not exceed limits.lua_memory_bytes (16777216): "
          "an "
          "answer is held in the room's Lua heap");
    CHECK(parsed("fetch: {max_response_bytes: 32MiB}\nlimits: {lua_memory_bytes: 64MiB}\n")
              .fetch.max_response_bytes == 32u * 1024 * 1024);
    CHECK(errorOf("fetch:\n  allowed: [a.com]\n") ==
          "t.yaml:2: unknown key 'fetch.allowed'; did you mean 'allow'?");
    CHECK(errorOf("max_redirects: 2\n") ==
          "t.yaml:1: unknown key 'max_redirects'; did you mean 'fetch.max_redirects'?");
    CHECK(errorOf("parties:\n  m:\n    script: a.lua\n    fetch: {allow: [a.com], timeout_ms: 5}\n") ==
          "t.yaml:4: unknown key 'parties.m.fetch.timeout_ms'; did you mean 'fetch.timeout_ms'?");
}

TEST_CASE("a party's fetch.allow only narrows the node's: with none on the node it is refused") {
    CHECK(errorOf("parties:\n  m:\n    script: a.lua\n    fetch:\n      allow: [api.example.com]\n") ==
          "t.yaml:5: parties.m.fetch.allow: fetch.allow is empty, so no host may be called; a party's list "
          "only narrows fetch.allow, so list the hosts there too");
    // An empty list closes the party, which needs no host on the node.
    CHECK(parsed("parties:\n  m:\n    script: a.lua\n    fetch: {allow: []}\n")
              .parties.at("m")
              .fetch->allow.empty());
}

TEST_CASE("fetch.ca_file must be a PEM file of certificates, read at start") {
    CHECK(errorOf("fetch:\n  ca_file: /nonexistent/partyline-ca.pem\n") ==
          "t.yaml:2: fetch.ca_file: no such file '/nonexistent/partyline-ca.pem'");
    auto notPem = publicKeyFile("not-ca.pem", "hello\n");
    CHECK(errorOf("fetch:\n  ca_file: " + notPem + "\n") ==
          "t.yaml:2: fetch.ca_file: '" + notPem +
              "' holds no PEM certificate (no -----BEGIN CERTIFICATE----- line)");
    auto dir = std::filesystem::temp_directory_path().string();
    CHECK(errorOf("fetch:\n  ca_file: " + dir + "\n") ==
          "t.yaml:2: fetch.ca_file: '" + dir + "' is not a CA file");
}

TEST_CASE("parties.X.webhook: url, events and secret; every event by default; the secret shown <set>") {
    ScopedEnvironment env({{"PARTYLINE_TEST_HOOK_URL", "http://127.0.0.1:8080/hooks"},
                           {"PARTYLINE_TEST_HOOK_SECRET", "s3cret-value"}});
    Config config = parsed(
        "parties:\n"
        "  game:\n"
        "    script: g.lua\n"
        "    webhook: {url: \"${PARTYLINE_TEST_HOOK_URL}\", events: [room.started, close], secret: "
        "\"${PARTYLINE_TEST_HOOK_SECRET}\"}\n"
        "  chat:\n"
        "    script: c.lua\n"
        "    webhook: {url: \"https://api.example.com/hooks\", secret: abc}\n"
        "  quiet: {script: q.lua}\n");
    const auto& game = config.parties.at("game").webhook;
    REQUIRE(game.has_value());
    CHECK(game->url == "http://127.0.0.1:8080/hooks");
    CHECK(game->events == std::vector<std::string>{"room.started", "close"});
    CHECK(game->secret.reveal() == "s3cret-value");
    const auto& chat = config.parties.at("chat").webhook;
    REQUIRE(chat.has_value());
    CHECK(chat->events == std::vector<std::string>{"room.started", "room.idle", "connect", "close"});
    CHECK_FALSE(config.parties.at("quiet").webhook.has_value());
    std::string described = config.describe();
    CHECK(described.find("s3cret-value") == std::string::npos);
    CHECK(described.find("abc") == std::string::npos);
    CHECK(described.find("127.0.0.1:8080") == std::string::npos);  // from the environment: <set>
    CHECK(described.find("https://api.example.com/hooks") != std::string::npos);
    CHECK(described.find("events: [room.started, room.idle, connect, close]") != std::string::npos);
}

TEST_CASE("parties.X.webhook errors name the key and the line; the secret is never printed") {
    const std::string head = "parties:\n  game:\n    script: g.lua\n    webhook:\n";
    CHECK(errorOf(head + "      url: http://h/x\n      events: [connect, joined]\n      secret: abc\n") ==
          "t.yaml:6: parties.game.webhook.events[1]: expected one of room.started, room.idle, connect, "
          "close, got 'joined'");
    CHECK(errorOf(head + "      url: ftp://h/x\n      secret: abc\n") ==
          "t.yaml:5: parties.game.webhook.url: expected an http:// or https:// URL with a host (and no "
          "user:password@), got 'ftp://h/x'");
    for (const char* url :
         {"file:///etc/passwd", "http://", "http:///x", "https://u:p@h/x", "http://h x/", "gopher://h"}) {
        CAPTURE(url);
        CHECK(errorOf(head + "      url: \"" + url + "\"\n      secret: abc\n")
                  .find("t.yaml:5: parties.game.webhook.url: expected") == 0);
    }
    CHECK(errorOf(head + "      url: http://h/x\n") ==
          "t.yaml:4: parties.game.webhook: missing required key 'secret'");
    CHECK(errorOf(head + "      secret: abc\n") ==
          "t.yaml:4: parties.game.webhook: missing required key 'url'");
    std::string empty = errorOf(head + "      url: http://h/x\n      secret: \"\"\n");
    CHECK(empty.find("t.yaml:6: parties.game.webhook.secret: expected a non-empty secret") == 0);
    CHECK(errorOf(head + "      url: http://h/x\n      secret: abc\n      retries: 3\n")
              .find("t.yaml:7: unknown key 'parties.game.webhook.retries'") == 0);
}

TEST_CASE("limits.max_rooms_per_connection: rooms of one multiplexed socket, 1 to 10000") {
    CHECK(parsed("limits:\n  max_rooms_per_connection: 3\n").limits.max_rooms_per_connection == 3);
    CHECK(parsed("limits:\n  max_rooms_per_connection: 10000\n").limits.max_rooms_per_connection == 10000);
    for (const char* bad : {"0", "10001", "-1", "many"}) {
        CAPTURE(bad);
        CHECK(errorOf(std::string("limits:\n  max_rooms_per_connection: ") + bad + "\n") ==
              std::string(
                  "t.yaml:2: limits.max_rooms_per_connection: expected an integer from 1 to 10000, got '") +
                  bad + "'");
    }
}

TEST_CASE("hostile-client keys: pending input budget, message deadline, rooms and their rate") {
    Config config = parsed(
        "limits:\n"
        "  max_pending_input_bytes: 64MiB\n"
        "  message_timeout_ms: 2500\n"
        "  max_rooms: 50\n"
        "  max_new_rooms_per_ip_per_second: 0\n"
        "  new_room_burst: 7\n");
    CHECK(config.limits.max_pending_input_bytes == 64 * 1024 * 1024);
    CHECK(config.limits.message_timeout_ms == 2500ms);
    CHECK(config.limits.max_rooms == 50);
    CHECK(config.limits.max_new_rooms_per_ip_per_second == 0);
    CHECK(config.limits.new_room_burst == 7);
    for (const char* bad : {"0", "10s"}) {
        CAPTURE(bad);
        CHECK(errorOf(std::string("limits:\n  message_timeout_ms: ") + bad + "\n") ==
              std::string("t.yaml:2: limits.message_timeout_ms: expected an integer number of milliseconds "
                          "from 100 to 600000, got '") +
                  bad + "'");
    }
    CHECK(errorOf("limits:\n  max_rooms: 0\n") ==
          "t.yaml:2: limits.max_rooms: expected a positive integer, got '0'");
    CHECK(errorOf("limits:\n  max_pending_input_bytes: lots\n")
              .find("t.yaml:2: limits.max_pending_input_bytes: expected a positive integer or a size") == 0);
}
