#include "app/BodyReader.h"

#include <civetweb.h>
#include <sys/socket.h>

#include <atomic>
#include <memory>

#include "app/HttpIo.h"
#include "core/Log.h"
#include "net/SocketLocator.h"

namespace partyline {

Status BodyReader::read(mg_connection* conn, size_t limit, std::string& body) {
    const mg_request_info* ri = mg_get_request_info(conn);
    bool hasBody = ri->content_length > 0 || mg_get_header(conn, "Transfer-Encoding");
    if (!hasBody) return readBody(conn, limit, body);
    int fd = net::findSocket(uint16_t(ri->server_port), ri->remote_addr, uint16_t(ri->remote_port));
    if (fd < 0) {
        // Every connection CivetWeb holds is findable; this is a bug, not a client's doing.
        log::error("http", "cannot find the socket of a request; its body is read without a deadline",
                   {{"peer", ri->remote_addr}});
        return readBody(conn, limit, body);
    }
    auto expired = std::make_shared<std::atomic<bool>>(false);
    uint64_t deadline = timer_.after(timeout_, [fd, expired] {
        expired->store(true);
        shutdown(fd, SHUT_RD);  // the worker still holds fd: read() cancels this before it returns
    });
    Status status = readBody(conn, limit, body);
    timer_.cancel(deadline);
    if (!expired->load()) return status;
    body.clear();
    closeAfterAnswer(conn);
    log::debug("http", "request body past limits.body_timeout_ms", {{"peer", ri->remote_addr}});
    return Status(Code::Timeout, "the request body did not arrive within limits.body_timeout_ms (" +
                                     std::to_string(timeout_.count()) + " ms)");
}

int BodyReader::refuse(mg_connection* conn, const Status& failure) {
    if (failure.code() == Code::Timeout) {
        closeAfterAnswer(conn);
        return sendText(conn, 408, failure.message());
    }
    return sendText(conn, statusFor(failure.code()), failure.message());
}

}  // namespace partyline
