#include "app/OpsListener.h"

#include <civetweb.h>

#include <exception>
#include <vector>

#include "app/HttpIo.h"
#include "core/Log.h"

namespace partyline {
namespace {

// Two probes and a scrape at once; each answer is small and made without waiting on a room.
constexpr const char* kWorkers = "4";

}  // namespace

Result<std::unique_ptr<OpsListener>> OpsListener::start(const std::string& listen,
                                                        std::chrono::milliseconds headerTimeout,
                                                        Handler handler) {
    std::unique_ptr<OpsListener> ops(new OpsListener(std::move(handler)));
    std::string timeout = std::to_string(headerTimeout.count());
    std::vector<const char*> options = {"listening_ports",
                                        listen.c_str(),
                                        "num_threads",
                                        kWorkers,
                                        "request_timeout_ms",
                                        timeout.c_str(),
                                        "enable_keep_alive",
                                        "no",
                                        "enable_directory_listing",
                                        "no",
                                        "decode_url",
                                        "no",
                                        "max_request_size",
                                        "8192",
                                        "access_control_allow_origin",
                                        "",
                                        "access_control_allow_methods",
                                        "",
                                        "access_control_allow_headers",
                                        "",
                                        nullptr};
    mg_callbacks callbacks{};
    callbacks.log_message = [](const mg_connection*, const char* message) {
        log::warn("http", std::string("ops listener: ") + message);
        return 1;
    };
    mg_init_library(0);
    char summary[256] = "";
    unsigned code = 0;
    mg_init_data init{&callbacks, ops.get(), options.data()};
    mg_error_data error{&code, summary, sizeof summary};
    ops->ctx_ = mg_start2(&init, &error);
    if (!ops->ctx_)
        return Status(Code::Unavailable, "cannot listen on " + listen +
                                             " (ops_listen): " + (summary[0] ? summary : "unknown error"));
    // No document_root: every request goes to the handler, as on the main listener.
    mg_set_auth_handler(ops->ctx_, "/", &OpsListener::dispatch, ops.get());
    mg_server_port ports[2];
    if (mg_get_server_ports(ops->ctx_, 2, ports) > 0) ops->port_ = uint16_t(ports[0].port);
    return ops;
}

OpsListener::~OpsListener() {
    if (ctx_) mg_stop(ctx_);
}

int OpsListener::dispatch(mg_connection* conn, void* self) {
    try {
        static_cast<OpsListener*>(self)->handler_(conn);
    } catch (const std::exception& e) {  // no exception may cross into CivetWeb
        log::error("http", std::string("ops request failed: ") + e.what());
        sendText(conn, 500, "internal error");
    }
    return 0;
}

}  // namespace partyline
