// BodyReader: reads a request's body within limits.body_timeout_ms, so a client that sends its
// body slowly (a byte a second, or nothing after the headers) holds a worker for that long at
// most, then gets 408 and the close.
//
// CivetWeb's mg_read waits for as many bytes as asked, each wait bounded but the sum not: a
// trickle keeps it reading. So a timer shuts the socket's read side at the deadline, which ends
// any read at once; the answer still goes out on the write side.
// Must not: read a request without a body's socket, or touch a socket after read() returned.
//
// Threads: read() and refuse() on the CivetWeb worker that holds the connection; the deadline
// fires on the reader's own timer thread, and read() cancels it before it returns.
#pragma once

#include <chrono>
#include <string>

#include "core/Status.h"
#include "core/Timer.h"

struct mg_connection;

namespace partyline {

class BodyReader {
   public:
    explicit BodyReader(std::chrono::milliseconds timeout) : timeout_(timeout) {}

    // The whole body into `body`: TooLarge past `limit` bytes, InvalidArgument when it cannot be
    // read, Timeout when it was not whole by the deadline (the connection then closes after
    // the answer).
    Status read(mg_connection* conn, size_t limit, std::string& body);
    // The answer to a read that failed: 408 for Timeout, else the code's status.
    static int refuse(mg_connection* conn, const Status& failure);

   private:
    std::chrono::milliseconds timeout_;
    Timer timer_;
};

}  // namespace partyline
