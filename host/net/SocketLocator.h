// SocketLocator: finds the file descriptor of a CivetWeb connection, which CivetWeb does not expose.
//
// Provides findSocket(), which matches the connection's local port and peer address and port
// against this process's sockets, and a process-wide registry of adopted fds (the upgraded
// WebSockets, which may be 10,000s) that scans skip, so finding one stays a handful of syscalls.
// Must not: read from, write to or change any fd it looks at; it only asks for names.
#pragma once

#include <cstdint>
#include <string_view>

namespace partyline::net {

// Any thread. The fd of this process's TCP socket whose local port is `localPort` and whose peer
// is exactly `peerAddr` (numeric IPv4 or IPv6, as CivetWeb's remote_addr; an IPv4 peer also
// matches its IPv4-mapped IPv6 form) and `peerPort`; -1 if there is none. Adopted fds are skipped.
int findSocket(uint16_t localPort, std::string_view peerAddr, uint16_t peerPort);

// Any thread. The fd of this process's listening TCP socket on `localPort` (CivetWeb's), -1 if none.
int findListeningSocket(uint16_t localPort);

// Any thread. Marks `fd` as taken by a session, so findSocket() skips it. False if it already was.
bool adoptSocket(int fd);
// Any thread, before the fd is closed (a reused number must be findable again).
void releaseSocket(int fd);
bool isAdopted(int fd);

// Adopts an fd for its lifetime. Owned by the session's thread; releases before the owner closes.
class AdoptedSocket {
   public:
    AdoptedSocket() = default;
    // Adopts `fd`; valid() is false if it was adopted already (or fd < 0).
    explicit AdoptedSocket(int fd);
    ~AdoptedSocket();
    AdoptedSocket(AdoptedSocket&& other) noexcept;
    AdoptedSocket& operator=(AdoptedSocket&& other) noexcept;
    AdoptedSocket(const AdoptedSocket&) = delete;
    AdoptedSocket& operator=(const AdoptedSocket&) = delete;

    // findSocket() and adoption in one step; invalid if no such socket.
    static AdoptedSocket find(uint16_t localPort, std::string_view peerAddr, uint16_t peerPort);

    bool valid() const { return fd_ >= 0; }
    int fd() const { return fd_; }
    // Releases now (before the fd is closed, if the close comes before this object's end).
    void reset();

   private:
    int fd_ = -1;
};

}  // namespace partyline::net
