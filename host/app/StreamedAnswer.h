// StreamedAnswer: an HTTP answer written while it is made, so its size does not decide the memory
// it holds.
//
// It buffers up to kBuffer bytes: an answer that ends within them goes out in one write with
// Content-Length, as send() writes one; a longer one goes out chunked (HTTP/1.1), one chunk per
// kBuffer, or, to an HTTP/1.0 client, unframed and ended by closing the connection.
// Must not: decide what to answer; the caller writes the body in pieces and finishes it.
//
// Threads: the CivetWeb worker that holds the connection.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

struct mg_connection;

namespace partyline {

class StreamedAnswer {
   public:
    // Bytes held before the answer starts going out, and per chunk after.
    static constexpr size_t kBuffer = 64 * 1024;

    StreamedAnswer(mg_connection* conn, int status, std::string contentType);
    StreamedAnswer(const StreamedAnswer&) = delete;
    StreamedAnswer& operator=(const StreamedAnswer&) = delete;

    // Appends to the body. False once the client is gone (a write failed): stop making the answer.
    bool write(std::string_view bytes);
    // Ends the answer and returns its status.
    int finish();

   private:
    bool flush();
    std::string head(bool chunked) const;

    mg_connection* conn_;
    int status_;
    std::string contentType_;
    std::string buffer_;
    bool started_ = false;  // the head went out
    bool chunked_ = false;
    bool failed_ = false;
};

}  // namespace partyline
