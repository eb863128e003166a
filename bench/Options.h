// Options: the command line of partyline-bench, its defaults and its --help text.
//
// Provides one struct with every setting (each default with its reason) and the parser that
// fills it from argv, checking ranges so the run itself never meets a nonsensical value.
// Must not: touch the network or the file system.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace partyline::bench {

enum class Mode { Post, Ws };

struct Options {
    std::vector<std::string> urls;  // nodes; clients and writers are spread over them in turn
    uint32_t clients = 100;
    std::string party = "main";
    uint32_t rooms = 1;
    std::string roomPrefix = "bench-";  // rooms are <prefix>0 .. <prefix>K-1
    // Opening thousands of sockets at once fills the listen backlog and measures SYN retries, not
    // the server; 2,000/s opens 10,000 clients in 5 s.
    double connectRate = 2000;
    double connectTimeoutSeconds = 60;
    Mode mode = Mode::Post;
    double rate = 100;  // writes per second over all rooms; 0 only holds the connections
    double durationSeconds = 10;
    // Deliveries still in flight when writing stops; a healthy node needs milliseconds.
    double drainSeconds = 5;
    size_t size = 64;  // payload bytes
    // One request in flight per connection: C connections allow C writes per acknowledgement time.
    uint32_t httpConnections = 8;
    // post: writes per request, as lines of an application/x-ndjson body (the node's batch
    // broadcast); 1 sends each write as the whole body.
    uint32_t batch = 1;
    uint32_t writers = 0;  // ws mode: clients that send; 0 means one per room
    uint32_t threads = 1;  // threads for the WebSocket clients
    int pid = 0;           // server process whose RSS is read; 0: none
    // WebSocket clients bind their sockets to this many loopback source addresses, 127.0.1.1
    // upwards, client i to the (i mod N)-th: past one address's ~28,000 ephemeral ports to one
    // node. 0: the kernel picks the source address.
    uint32_t sourceAddresses = 0;
    // Client i uses node i mod U (false), or node (i div rooms) mod U (true: "--spread room"), so
    // that the clients of each room alternate between the nodes.
    bool spreadRooms = false;
    // Processes whose CPU time and context switches (all threads) are read when writing begins
    // and after the drain, by name: "--cpu node-1=PID". Several may share a name (summed).
    std::vector<std::pair<std::string, int>> cpuPids;
    std::string wsPath = "/parties/{party}/{room}?_pk={id}";
    std::string postPath = "/v1/parties/{party}/{room}/broadcast";
    bool subprotocol = true;  // offer partyline.v1
    std::string healthPath = "/healthz";
    double settleSeconds = 1;  // after the last client opened, before RSS is read and writes start
    double requestTimeoutSeconds = 10;
    size_t maxMessageBytes = 16 << 20;  // a longer frame from the server is a protocol error
    bool json = false;
    bool quiet = false;
};

enum class ParseResult { Run, Help, Error };

ParseResult parseOptions(int argc, char** argv, Options& options, std::string& error);

extern const char* const kHelpText;

}  // namespace partyline::bench
