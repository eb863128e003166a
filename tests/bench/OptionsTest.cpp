#include <doctest/doctest.h>
#include <unistd.h>

#include <vector>

#include "Options.h"

using namespace partyline::bench;

namespace {

ParseResult parse(std::vector<std::string> args, Options& options, std::string& error) {
    std::vector<char*> argv = {const_cast<char*>("partyline-bench")};
    for (auto& arg : args) argv.push_back(arg.data());
    return parseOptions(int(argv.size()), argv.data(), options, error);
}

}  // namespace

TEST_CASE("defaults name one local node and post mode") {
    Options o;
    std::string error;
    REQUIRE(parse({}, o, error) == ParseResult::Run);
    CHECK(o.urls == std::vector<std::string>{"http://127.0.0.1:1999"});
    CHECK(o.mode == Mode::Post);
    CHECK(o.subprotocol);
}

TEST_CASE("flags take their values, with units and in --flag=value form") {
    Options o;
    std::string error;
    REQUIRE(parse({"--url", "http://127.0.0.1:2000", "--url=http://127.0.0.1:2001", "--rate", "200/s",
                   "--duration", "20s", "--clients", "1000", "--rooms=10", "--mode", "ws", "--no-subprotocol",
                   "--json"},
                  o, error) == ParseResult::Run);
    CHECK(o.urls.size() == 2);
    CHECK(o.rate == 200);
    CHECK(o.durationSeconds == 20);
    CHECK(o.clients == 1000);
    CHECK(o.mode == Mode::Ws);
    CHECK(o.writers == 10);  // one per room by default
    CHECK_FALSE(o.subprotocol);
    CHECK(o.json);
}

TEST_CASE("bad values and unknown flags are refused with the flag's name") {
    Options o;
    std::string error;
    CHECK(parse({"--rate", "fast"}, o, error) == ParseResult::Error);
    CHECK(error.find("--rate") != std::string::npos);
    CHECK(parse({"--clients", "0"}, o, error) == ParseResult::Error);
    CHECK(parse({"--mode", "udp"}, o, error) == ParseResult::Error);
    CHECK(parse({"--frobnicate"}, o, error) == ParseResult::Error);
    CHECK(parse({"--clients"}, o, error) == ParseResult::Error);
    CHECK(parse({"--clients", "5", "--rooms", "6"}, o, error) == ParseResult::Error);
    CHECK(parse({"--help"}, o, error) == ParseResult::Help);
}

TEST_CASE("--batch sets writes per POST and is refused in ws mode or out of range") {
    Options o;
    std::string error;
    REQUIRE(parse({"--batch", "100"}, o, error) == ParseResult::Run);
    CHECK(o.batch == 100);
    CHECK(parse({"--batch", "0"}, o, error) == ParseResult::Error);
    CHECK(parse({"--batch", "1001"}, o, error) == ParseResult::Error);
    CHECK(parse({"--mode", "ws", "--batch", "10"}, o, error) == ParseResult::Error);
    CHECK(error.find("--batch") != std::string::npos);
}

TEST_CASE("--source-addresses spreads clients over loopback source addresses, within range") {
    Options o;
    std::string error;
    CHECK(o.sourceAddresses == 0);
    REQUIRE(parse({"--source-addresses", "8"}, o, error) == ParseResult::Run);
    CHECK(o.sourceAddresses == 8);
    Options bad;
    CHECK(parse({"--source-addresses", "70000"}, bad, error) == ParseResult::Error);
    CHECK(error.find("--source-addresses") != std::string::npos);
    CHECK(parse({"--source-addresses", "many"}, bad, error) == ParseResult::Error);
}

TEST_CASE("--spread room and --cpu NAME=PID, repeated; bad values refused") {
    Options o;
    std::string error;
    REQUIRE(parse({"--spread", "room", "--cpu", "node-1=12", "--cpu=nats-server=34", "--cpu", "node-1=56"}, o,
                  error) == ParseResult::Run);
    CHECK(o.spreadRooms);
    REQUIRE(o.cpuPids.size() == 3);
    CHECK(o.cpuPids[0] == std::pair<std::string, int>{"node-1", 12});
    CHECK(o.cpuPids[1] == std::pair<std::string, int>{"nats-server", 34});
    for (const char* bad : {"12", "=12", "node=", "node=x", "node=0"}) {
        Options b;
        CHECK_MESSAGE(parse({"--cpu", bad}, b, error) == ParseResult::Error, bad);
    }
    Options self;
    REQUIRE(parse({"--cpu", "tool=self"}, self, error) == ParseResult::Run);
    CHECK(self.cpuPids.at(0) == std::pair<std::string, int>{"tool", int(getpid())});
    Options s;
    CHECK(parse({"--spread", "everywhere"}, s, error) == ParseResult::Error);
}
