// partyline: the command line.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "app/Node.h"
#include "core/Log.h"
#include "rooms/ScriptCheck.h"

namespace {

using namespace partyline;

// After limits.drain_seconds, the node's teardown (closing rooms, NATS) gets this long.
constexpr std::chrono::seconds kTeardownGrace{5};

constexpr const char* kUsage = R"(partyline - a host for real-time rooms

Usage:
  partyline serve [--config FILE] [--listen HOST:PORT] [--data DIR] [--node-id ID]
                  [--nats-url URL] [--static DIR] [--log-level debug|info|warn|error]
                  [--log-format logfmt|json]
  partyline dev [SCRIPT] [--listen HOST:PORT] [--data DIR] [--nats-url URL]
  partyline check SCRIPT...
  partyline new NAME
  partyline check-config FILE
  partyline --help | --version

serve      runs a node. Without --config it serves the example chat room as
           party "main" and starts an embedded nats-server with JetStream whose
           data lives in --data (default .partyline). Flags override the file.
dev        serves one room script (default room.lua, written from the starter
           when missing) as party "main", with no configuration file: an
           embedded nats-server, the script's public/ folder at /, the script
           reloaded on every save, on 127.0.0.1:1999 unless --listen says
           otherwise. Prints the URL to open.
check      loads room scripts in the sandbox and reports syntax errors, unknown
           handler names, handlers that are not functions, undefined globals
           and unknown room:/conn: methods (exit 1 if any).
new        writes NAME.lua, a starter room script (never overwrites).
check-config
           validates FILE and prints the configuration in effect, with secrets
           and values taken from the environment shown as <set>; else lists
           every error, each with the file and line (exit 1).
)";

// The example party: from the working directory when it has one, else from
// the source tree or the installed share directory.
std::string findExample(const std::string& relative) {
    for (std::string base :
         {std::string("."), std::string(PARTYLINE_SOURCE_DIR), std::string("/usr/share/partyline")})
        if (std::filesystem::exists(base + "/" + relative)) return base + "/" + relative;
    return relative;
}

struct Args {
    std::string command;
    std::map<std::string, std::string> flags;
    std::vector<std::string> positional;
};

bool parseArgs(int argc, char** argv, Args& args, std::string& error) {
    static const std::vector<std::string> known = {"--config",   "--listen", "--data",      "--node-id",
                                                   "--nats-url", "--static", "--log-level", "--log-format"};
    for (int i = 1; i < argc; ++i) {
        std::string arg = argv[i];
        if (arg.rfind("--", 0) == 0 && arg != "--help" && arg != "--version") {
            std::string value;
            if (auto eq = arg.find('='); eq != std::string::npos) {
                value = arg.substr(eq + 1);
                arg = arg.substr(0, eq);
            } else if (i + 1 < argc) {
                value = argv[++i];
            } else {
                error = arg + " needs a value";
                return false;
            }
            if (std::find(known.begin(), known.end(), arg) == known.end()) {
                error = "unknown option " + arg;
                return false;
            }
            args.flags[arg] = value;
        } else if (args.command.empty()) {
            args.command = arg;
        } else {
            args.positional.push_back(arg);
        }
    }
    return true;
}

// The embedded example party's script exists: a configuration file's scripts are resolved and
// looked for by Config::load, with every other error of the file.
Status checkExampleScript(const Config& config, const PartyConfig& example) {
    if (std::filesystem::exists(example.script)) return Status::ok();
    return Status(Code::NotFound, config.source + ": parties." + example.name + ".script: no such file '" +
                                      example.script + "'");
}

Result<Config> loadConfig(const Args& args) {
    Config config;
    if (auto it = args.flags.find("--config"); it != args.flags.end()) {
        auto loaded = Config::load(it->second);
        if (!loaded) return loaded.status();
        config = std::move(loaded.value());
    }
    if (config.parties.empty()) {
        PartyConfig example;
        example.name = "main";
        example.script = findExample("examples/chat/room.lua");
        if (Status missing = checkExampleScript(config, example); !missing) return missing;
        config.parties["main"] = std::move(example);
    }
    if (auto it = args.flags.find("--listen"); it != args.flags.end()) config.listen = it->second;
    if (auto it = args.flags.find("--data"); it != args.flags.end()) config.data_dir = it->second;
    if (auto it = args.flags.find("--node-id"); it != args.flags.end()) config.node_id = it->second;
    if (auto it = args.flags.find("--nats-url"); it != args.flags.end()) config.nats.url = it->second;
    return config;
}

// Each line of a message that may hold several errors (a configuration's), with the prefix.
void printErrors(const char* prefix, const std::string& message) {
    size_t start = 0;
    while (start <= message.size()) {
        size_t end = std::min(message.find('\n', start), message.size());
        std::fprintf(stderr, "%s%.*s\n", prefix, int(end - start), message.data() + start);
        start = end + 1;
    }
}

// The configuration's log level and format, unless a flag says otherwise.
bool setUpLog(const Args& args, const LogConfig& config) {
    std::string level = config.level, format = config.format;
    if (auto it = args.flags.find("--log-level"); it != args.flags.end()) level = it->second;
    if (auto it = args.flags.find("--log-format"); it != args.flags.end()) format = it->second;
    auto parsedLevel = log::parseLevel(level);
    auto parsedFormat = log::parseFormat(format);
    if (!parsedLevel) std::fprintf(stderr, "partyline: --log-level must be debug, info, warn or error\n");
    if (!parsedFormat) std::fprintf(stderr, "partyline: --log-format must be logfmt or json\n");
    if (!parsedLevel || !parsedFormat) return false;
    log::setLevel(*parsedLevel);
    log::setFormat(*parsedFormat);
    return true;
}

int runNode(NodeOptions options, std::function<void(uint16_t port)> started = {});

int serve(const Args& args) {
    auto config = loadConfig(args);
    if (!config) {
        printErrors("partyline: ", config.status().message());
        return 2;
    }
    if (!setUpLog(args, config->log)) return 2;
    NodeOptions options{std::move(config.value()), {}};
    // --static DIR serves DIR at /; else each example's public/ folder at /<example>/.
    if (auto it = args.flags.find("--static"); it != args.flags.end()) {
        if (!options.staticFiles.mount("/", it->second)) {
            std::fprintf(stderr, "partyline: --static: no such folder '%s'\n", it->second.c_str());
            return 2;
        }
    } else {
        options.staticFiles.mountExamples(
            std::filesystem::path(findExample("examples/chat/room.lua")).parent_path().parent_path());
    }
    return runNode(std::move(options));
}

// partyline dev [SCRIPT]: one script as party "main", no configuration file, on loopback.
int dev(const Args& args) {
    if (args.positional.size() > 1) {
        std::fprintf(stderr, "usage: partyline dev [SCRIPT]\n");
        return 2;
    }
    for (const char* flag : {"--config", "--static", "--node-id"})
        if (args.flags.count(flag)) {
            std::fprintf(stderr, "partyline: dev takes no %s (serve does)\n", flag);
            return 2;
        }
    std::string script = args.positional.empty() ? "room.lua" : args.positional[0];
    if (!std::filesystem::exists(script)) {
        std::ofstream(script) << starterScript(std::filesystem::path(script).stem().string());
        if (!std::filesystem::exists(script)) {
            std::fprintf(stderr, "partyline: cannot write %s\n", script.c_str());
            return 1;
        }
        std::printf("wrote %s, a starter room\n", script.c_str());
    }
    for (const auto& problem : checkRoomScript(script)) std::fprintf(stderr, "%s\n", problem.c_str());
    Args serveArgs = args;
    serveArgs.flags.try_emplace("--listen", "127.0.0.1:1999");
    auto config = loadConfig(serveArgs);
    if (!config) {
        std::fprintf(stderr, "partyline: %s\n", config.status().message().c_str());
        return 2;
    }
    config->parties.clear();
    PartyConfig party;
    party.name = "main";
    party.script = script;
    config->parties["main"] = std::move(party);
    if (!setUpLog(args, config->log)) return 2;
    NodeOptions options{std::move(config.value()), {}};
    auto pub = std::filesystem::absolute(script).parent_path() / "public";
    bool pages = std::filesystem::is_directory(pub) && options.staticFiles.mount("/", pub.string());
    std::fflush(stdout);
    return runNode(std::move(options), [script, pages, pub](uint16_t port) {
        std::printf(
            "partyline dev: open http://127.0.0.1:%u/\n"
            "  room script %s as party main: ws://127.0.0.1:%u/parties/main/<room>, reloaded on save\n"
            "  pages: %s\n",
            unsigned(port), script.c_str(), unsigned(port),
            pages ? pub.c_str() : "none (make a public/ folder beside the script)");
        std::fflush(stdout);
    });
}

int runNode(NodeOptions options, std::function<void(uint16_t port)> started) {
    const auto drainSeconds = options.config.limits.drain_seconds;

    // Every thread started from here on inherits the blocked signals; only
    // this thread takes them, with sigwait.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    signal(SIGPIPE, SIG_IGN);

    auto node = Node::start(std::move(options));
    if (!node) {
        log::error("node", "cannot start: " + node.status().message());
        return 1;
    }
    if (started) started(node.value()->port());
    int received = 0;
    for (;;) {
        sigwait(&signals, &received);
        if (received != SIGHUP) break;
        log::info("node", "SIGHUP: reloading every party's script");
        node.value()->reloadScripts(true);
    }
    log::info("node", std::string("stopping on ") + strsignal(received));
    // Past the drain time and a grace for the teardown, nothing more is waited for.
    auto bound = drainSeconds + kTeardownGrace;
    std::thread([bound] {
        std::this_thread::sleep_for(bound);
        log::error("node",
                   "still stopping " + std::to_string(bound.count()) + " s after the signal: exiting now");
        std::_Exit(1);
    }).detach();
    node.value()->drain();
    node.value().reset();
    log::info("node", "stopped");
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    Args args;
    std::string error;
    if (!parseArgs(argc, argv, args, error)) {
        std::fprintf(stderr, "partyline: %s\n\n%s", error.c_str(), kUsage);
        return 2;
    }
    if (args.command.empty() || args.command == "--help" || args.command == "help") {
        std::fputs(kUsage, args.command.empty() ? stderr : stdout);
        return args.command.empty() ? 2 : 0;
    }
    if (args.command == "--version") {
        std::puts("partyline 0.1.0");
        return 0;
    }
    if (args.command == "serve") return serve(args);
    if (args.command == "dev") return dev(args);
    if (args.command == "check") {
        if (args.positional.empty()) {
            std::fprintf(stderr, "usage: partyline check SCRIPT...\n");
            return 2;
        }
        int status = 0;
        for (const auto& path : args.positional) {
            auto problems = checkRoomScript(path);
            for (const auto& problem : problems) std::fprintf(stderr, "%s\n", problem.c_str());
            if (problems.empty())
                std::printf("%s: ok\n", path.c_str());
            else
                status = 1;
        }
        return status;
    }
    if (args.command == "new") {
        if (args.positional.size() != 1) {
            std::fprintf(stderr, "usage: partyline new NAME\n");
            return 2;
        }
        std::string name = args.positional[0];
        std::string path = name.size() > 4 && name.ends_with(".lua") ? name : name + ".lua";
        if (std::filesystem::exists(path)) {
            std::fprintf(stderr, "partyline: %s exists; not overwriting it\n", path.c_str());
            return 1;
        }
        std::ofstream(path) << starterScript(std::filesystem::path(path).stem().string());
        std::printf("wrote %s\nserve it: add `parties: {%s: {script: %s}}` to a configuration\n",
                    path.c_str(), std::filesystem::path(path).stem().c_str(), path.c_str());
        return 0;
    }
    if (args.command == "check-config") {
        if (args.positional.size() != 1) {
            std::fprintf(stderr, "usage: partyline check-config FILE\n");
            return 2;
        }
        // Every error of the file, one a line with its file and line, script files included.
        auto config = Config::load(args.positional[0]);
        if (!config) {
            printErrors("", config.status().message());
            return 1;
        }
        // The configuration in effect, defaults included; secrets and values from the
        // environment read <set>.
        std::printf("%s: ok\n%s", args.positional[0].c_str(), config->describe().c_str());
        return 0;
    }
    std::fprintf(stderr, "partyline: unknown command '%s'\n\n%s", args.command.c_str(), kUsage);
    return 2;
}
