#include "bus/EmbeddedNats.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "core/Log.h"
#include "core/ThreadName.h"

namespace partyline {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kStartTimeout = 10s;  // a cold JetStream recovery of a large store takes seconds
constexpr auto kStopTimeout = 5s;    // nats-server flushes its store on SIGTERM
constexpr int kPortAttempts = 3;     // a free port can be taken between the probe and the bind

std::string errnoText(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

// The address to dial: a wildcard bind is reached on loopback.
std::string dialHost(const std::string& bindHost) {
    if (bindHost.empty() || bindHost == "0.0.0.0" || bindHost == "::") return "127.0.0.1";
    return bindHost;
}

// Binds a loopback TCP socket to `port` (0: one the kernel picks) and closes it again: the port
// it was bound to, or -1 when the bind failed.
int bindLoopback(int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(uint16_t(port));
    socklen_t len = sizeof addr;
    int bound = -1;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        bound = ntohs(addr.sin_port);
    ::close(fd);
    return bound;
}

// The top of the kernel's ephemeral range, where it picks the local port of every outgoing
// connection.
int ephemeralHigh() {
    std::ifstream in("/proc/sys/net/ipv4/ip_local_port_range");
    int low = 32768, high = 60999;
    in >> low >> high;
    return high;
}

// A free loopback port for nats-server, above the kernel's ephemeral range when there is room
// there: a port in that range may be taken by any outgoing connection (the bus's own reconnects
// included) before the server binds it, or while it is down before restart(). Where there is no
// room above it, one the kernel picks (port 0); start() retries a port that was taken.
Result<int> freeLoopbackPort() {
    const int high = ephemeralHigh();
    constexpr int kMinRoom = 1000;
    if (65535 - high >= kMinRoom) {
        thread_local std::mt19937 random{std::random_device{}()};
        std::uniform_int_distribution<int> pick(high + 1, 65535);
        for (int attempt = 0; attempt < 100; ++attempt) {
            const int port = pick(random);
            if (bindLoopback(port) == port) return port;
        }
    }
    const int port = bindLoopback(0);
    if (port <= 0) return Status(Code::Unavailable, errnoText("no free loopback port"));
    return port;
}

bool accepts(const std::string& host, int port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    bool ok = ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) == 1 &&
              ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

// Runs in the forked child: only async-signal-safe calls until exec.
[[noreturn]] void execChild(const char* binary, char* const argv[], int logFd, pid_t parent) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl took effect
    ::setpgid(0, 0);  // a terminal's Ctrl-C goes to partyline, which stops us in order
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    for (int sig : {SIGPIPE, SIGTERM, SIGINT, SIGHUP}) ::sigaction(sig, &dfl, nullptr);
    int devNull = ::open("/dev/null", O_RDONLY);
    if (devNull >= 0) ::dup2(devNull, STDIN_FILENO);
    ::dup2(logFd, STDOUT_FILENO);
    ::dup2(logFd, STDERR_FILENO);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);  // partyline's sockets must not leak into the server
    ::execv(binary, argv);
    ::_exit(127);
}

}  // namespace

EmbeddedNats::EmbeddedNats(NatsServerBinary binary, std::string dataDir, std::string bindHost)
    : binary_(std::move(binary.path)),
      version_(std::move(binary.version)),
      dataDir_(std::move(dataDir)),
      bindHost_(std::move(bindHost)),
      logPath_(dataDir_ + "/nats-server.log"),
      forker_([this] {
          nameThisThread("pl-nats-fork");
          forkerLoop();
      }) {}

Result<std::unique_ptr<EmbeddedNats>> EmbeddedNats::start(const std::string& dataDir,
                                                          const std::string& bindHost) {
    auto binary = newestNatsServer();
    if (!binary) return binary.status();
    std::error_code ec;
    std::filesystem::create_directories(dataDir, ec);
    if (ec) return Status(Code::Internal, "cannot create " + dataDir + ": " + ec.message());

    std::unique_ptr<EmbeddedNats> nats(new EmbeddedNats(binary.value(), dataDir, bindHost));
    Status last;
    for (int attempt = 0; attempt < kPortAttempts; ++attempt) {
        auto port = freeLoopbackPort();
        if (!port) return port.status();
        nats->port_ = port.value();
        nats->url_ = "nats://" + dialHost(bindHost) + ":" + std::to_string(nats->port_);
        last = nats->launch();
        if (last) return nats;
        if (last.message().find("address already in use") == std::string::npos) break;
    }
    return last.context("embedded nats-server");
}

EmbeddedNats::~EmbeddedNats() {
    if (pid_ > 0 && !stopChild(SIGTERM, kStopTimeout)) {
        log::warn("nats", "embedded nats-server did not stop in time; killing it");
        stopChild(SIGKILL, kStopTimeout);
    }
    {
        std::lock_guard lock(forkerMutex_);
        forkerStop_ = true;
    }
    forkerCv_.notify_all();
    forker_.join();
}

void EmbeddedNats::killHard() {
    if (pid_ > 0) stopChild(SIGKILL, kStopTimeout);
}

Status EmbeddedNats::restart() {
    if (pid_ > 0) return Status(Code::Internal, "embedded nats-server is still running");
    return launch().context("embedded nats-server restart");
}

Status EmbeddedNats::launch() {
    std::string port = std::to_string(port_);
    std::vector<std::string> args = {binary_, "-js", "-a", bindHost_, "-p", port,
                                     // The server appends "jetstream": the store is DATADIR/jetstream.
                                     "-sd", dataDir_};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);

    int logFd = ::open(logPath_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logFd < 0) return Status(Code::Internal, errnoText(("open " + logPath_).c_str()));
    pid_t child = -1;
    int forkErrno = 0;
    onForker([&] {
        pid_t parent = ::getpid();
        child = ::fork();
        if (child == 0) execChild(binary_.c_str(), argv.data(), logFd, parent);
        forkErrno = errno;
    });
    ::close(logFd);
    if (child < 0) return Status(Code::Internal, std::string("fork: ") + std::strerror(forkErrno));
    pid_ = child;

    Status listening = waitUntilListening(child);
    if (!listening) {
        stopChild(SIGKILL, kStopTimeout);
        return listening;
    }
    log::info("nats",
              "embedded nats-server " + version_.text + " pid=" + std::to_string(child) + " url=" + url_ +
                  " store=" + dataDir_ + "/jetstream log=" + logPath_,
              {{"binary", binary_}});
    return Status::ok();
}

Status EmbeddedNats::waitUntilListening(pid_t child) {
    const std::string host = dialHost(bindHost_);
    const auto deadline = Clock::now() + kStartTimeout;
    while (Clock::now() < deadline) {
        int status = 0;
        if (::waitpid(child, &status, WNOHANG) == child) {
            pid_ = -1;
            std::string how = WIFEXITED(status) ? "exited with status " + std::to_string(WEXITSTATUS(status))
                                                : "was killed by signal " + std::to_string(WTERMSIG(status));
            return Status(Code::Unavailable,
                          "nats-server " + how + "; last lines of " + logPath_ + ": " + logTail());
        }
        if (accepts(host, port_)) return Status::ok();
        std::this_thread::sleep_for(25ms);
    }
    return Status(Code::Timeout, "nats-server did not accept connections on port " + std::to_string(port_) +
                                     " within 10 s; last lines of " + logPath_ + ": " + logTail());
}

bool EmbeddedNats::stopChild(int signal, std::chrono::milliseconds wait) {
    if (pid_ <= 0) return true;
    ::kill(pid_, signal);
    const auto deadline = Clock::now() + wait;
    while (true) {
        int status = 0;
        pid_t reaped = ::waitpid(pid_, &status, WNOHANG);
        if (reaped == pid_ || (reaped < 0 && errno == ECHILD)) {
            pid_ = -1;
            return true;
        }
        if (Clock::now() >= deadline) return false;
        std::this_thread::sleep_for(10ms);
    }
}

std::string EmbeddedNats::logTail() const {
    constexpr std::streamoff kTailBytes = 2048;
    std::ifstream in(logPath_, std::ios::binary | std::ios::ate);
    if (!in) return "(no log)";
    std::streamoff size = in.tellg();
    in.seekg(size > kTailBytes ? size - kTailBytes : 0);
    std::string tail((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    // The last few lines name the cause (a bad store, a taken port).
    std::vector<std::string> lines;
    std::stringstream split(tail);
    for (std::string line; std::getline(split, line);) {
        if (!line.empty()) lines.push_back(line);
    }
    std::string joined;
    for (size_t i = lines.size() > 6 ? lines.size() - 6 : 0; i < lines.size(); ++i) {
        if (!joined.empty()) joined += " | ";
        joined += lines[i];
    }
    return joined.empty() ? "(empty log)" : joined;
}

void EmbeddedNats::onForker(const std::function<void()>& job) {
    std::unique_lock lock(forkerMutex_);
    forkerJob_ = &job;
    forkerCv_.notify_all();
    forkerCv_.wait(lock, [&] { return forkerJob_ == nullptr; });
}

void EmbeddedNats::forkerLoop() {
    std::unique_lock lock(forkerMutex_);
    while (true) {
        forkerCv_.wait(lock, [&] { return forkerStop_ || forkerJob_ != nullptr; });
        if (forkerJob_ != nullptr) {
            (*forkerJob_)();
            forkerJob_ = nullptr;
            forkerCv_.notify_all();
            continue;
        }
        return;
    }
}

}  // namespace partyline
