#include "app/StreamedAnswer.h"

#include <civetweb.h>

#include <cstring>

#include "app/HttpIo.h"

namespace partyline {

StreamedAnswer::StreamedAnswer(mg_connection* conn, int status, std::string contentType)
    : conn_(conn), status_(status), contentType_(std::move(contentType)) {
    buffer_.reserve(kBuffer);
}

std::string StreamedAnswer::head(bool chunked) const {
    const bool keepAlive = chunked && keepsAlive(conn_);
    std::string out = "HTTP/1.1 " + std::to_string(status_) + " " + reasonPhrase(status_) +
                      "\r\nContent-Type: " + contentType_ + "\r\n";
    if (chunked) out += "Transfer-Encoding: chunked\r\n";
    out +=
        keepAlive ? "Connection: keep-alive\r\nKeep-Alive: timeout=4\r\n\r\n" : "Connection: close\r\n\r\n";
    return out;
}

bool StreamedAnswer::write(std::string_view bytes) {
    if (failed_) return false;
    buffer_.append(bytes);
    return buffer_.size() < kBuffer || flush();
}

// The first flush sends the head: chunked to an HTTP/1.1 client, else the body ends at the close.
bool StreamedAnswer::flush() {
    if (!started_) {
        const char* version = mg_get_request_info(conn_)->http_version;
        chunked_ = version && strcmp(version, "1.1") == 0;
        if (!chunked_ || !keepsAlive(conn_)) closeAfterAnswer(conn_);
        std::string out = head(chunked_);
        started_ = true;
        if (mg_write(conn_, out.data(), out.size()) != int(out.size())) failed_ = true;
    }
    if (!failed_ && !buffer_.empty()) {
        int sent = chunked_ ? mg_send_chunk(conn_, buffer_.data(), unsigned(buffer_.size()))
                            : mg_write(conn_, buffer_.data(), buffer_.size());
        if (sent <= 0) failed_ = true;
    }
    if (failed_) closeAfterAnswer(conn_);
    buffer_.clear();
    return !failed_;
}

int StreamedAnswer::finish() {
    if (!started_) {
        // Small: one write with Content-Length.
        HttpResponse response{status_, {{"Content-Type", contentType_}}, std::move(buffer_)};
        return send(conn_, response);
    }
    if (flush() && chunked_) mg_send_chunk(conn_, "", 0);
    return status_;
}

}  // namespace partyline
