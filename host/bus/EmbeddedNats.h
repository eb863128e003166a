// EmbeddedNats: a local nats-server with JetStream, run as a child process.
//
// It backs `nats.url: embedded` (one machine, no setup) and the tests that
// need a real server. It starts the newest nats-server installed (see
// NatsServerVersion.h: NATS_SERVER_BIN, the project's tools folder, PATH, /usr/sbin) on a free
// loopback port with its store under the data directory and its output in
// DATADIR/nats-server.log, and waits until it accepts connections. The child
// dies with partyline, even when partyline is killed with SIGKILL.
//
// It does not configure clustering, authentication or monitoring: a
// production deployment points `nats.url` at a real NATS cluster instead.
// Its methods are meant for one thread (the one that composes the node).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "bus/NatsServerVersion.h"
#include "core/Status.h"

namespace partyline {

class EmbeddedNats {
   public:
    // Starts nats-server with JetStream, its store in DATADIR/jetstream.
    // Blocks until the server accepts connections (at most 10 s); an early
    // exit is an error that quotes the end of the server's log.
    // `bindHost` is an IPv4 address; 0.0.0.0 is reached on 127.0.0.1.
    static Result<std::unique_ptr<EmbeddedNats>> start(const std::string& dataDir,
                                                       const std::string& bindHost = "127.0.0.1");

    // Stops the server: SIGTERM, up to 5 s for a clean shutdown, then SIGKILL.
    ~EmbeddedNats();

    EmbeddedNats(const EmbeddedNats&) = delete;
    EmbeddedNats& operator=(const EmbeddedNats&) = delete;

    // nats://HOST:PORT, for NatsBus::connect.
    const std::string& url() const { return url_; }
    int port() const { return port_; }
    // The binary started (the newest installed, see newestNatsServer) and its version.
    const std::string& binary() const { return binary_; }
    const NatsServerVersion& version() const { return version_; }
    // The server's process id; -1 while it is not running.
    pid_t pid() const { return pid_; }

    // Test hooks: a crash of the server (SIGKILL, no shutdown), and a start of
    // a new one on the same port and store directory, as a supervisor would.
    void killHard();
    Status restart();

   private:
    EmbeddedNats(NatsServerBinary binary, std::string dataDir, std::string bindHost);

    // Spawns the child on the forker thread and waits until it listens.
    Status launch();
    // Sends `signal` and reaps the child, waiting at most `wait`.
    bool stopChild(int signal, std::chrono::milliseconds wait);
    Status waitUntilListening(pid_t child);
    std::string logTail() const;
    // Runs `job` on forker_ and waits for it.
    void onForker(const std::function<void()>& job);
    void forkerLoop();

    const std::string binary_;
    const NatsServerVersion version_;
    const std::string dataDir_;
    const std::string bindHost_;
    const std::string logPath_;
    int port_ = 0;
    std::string url_;
    pid_t pid_ = -1;

    // The child is forked on this thread, which lives as long as this object:
    // the kernel's parent-death signal (PR_SET_PDEATHSIG) fires when the
    // *thread* that forked exits, so forking on a caller's thread would kill
    // the server when that thread ends.
    std::mutex forkerMutex_;
    std::condition_variable forkerCv_;
    const std::function<void()>* forkerJob_ = nullptr;
    bool forkerStop_ = false;
    std::thread forker_;
};

}  // namespace partyline
