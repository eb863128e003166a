// HttpIo's pure parts: the status line, the Status-to-HTTP mapping and the encoded answer, with
// no CivetWeb connection.
#include <doctest/doctest.h>

#include "app/HttpIo.h"

using namespace partyline;

TEST_CASE("every status partyline answers with has its phrase") {
    CHECK(std::string(reasonPhrase(101)) == "Switching Protocols");
    CHECK(std::string(reasonPhrase(200)) == "OK");
    CHECK(std::string(reasonPhrase(204)) == "No Content");
    CHECK(std::string(reasonPhrase(400)) == "Bad Request");
    CHECK(std::string(reasonPhrase(404)) == "Not Found");
    CHECK(std::string(reasonPhrase(405)) == "Method Not Allowed");
    CHECK(std::string(reasonPhrase(409)) == "Conflict");
    CHECK(std::string(reasonPhrase(413)) == "Content Too Large");
    CHECK(std::string(reasonPhrase(401)) == "Unauthorized");
    CHECK(std::string(reasonPhrase(403)) == "Forbidden");
    CHECK(std::string(reasonPhrase(201)) == "Created");
    CHECK(std::string(reasonPhrase(302)) == "Found");
    CHECK(std::string(reasonPhrase(422)) == "Unprocessable Content");
    CHECK(std::string(reasonPhrase(502)) == "Bad Gateway");
    CHECK(std::string(reasonPhrase(500)) == "Internal Server Error");
    CHECK(std::string(reasonPhrase(501)) == "Not Implemented");
    CHECK(std::string(reasonPhrase(503)) == "Service Unavailable");
    CHECK(std::string(reasonPhrase(504)) == "Gateway Timeout");
}

TEST_CASE("a status RFC 9110 does not name gets an empty reason phrase, as RFC 9112 allows") {
    // A room handler may answer with any status from 100 to 599.
    for (int status : {299, 418, 499, 599}) CHECK(std::string(reasonPhrase(status)).empty());
}

TEST_CASE("each Status code maps to the HTTP status a client can act on") {
    CHECK(statusFor(Code::InvalidArgument) == 400);
    CHECK(statusFor(Code::NotFound) == 404);
    CHECK(statusFor(Code::Conflict) == 409);
    CHECK(statusFor(Code::TooLarge) == 413);
    CHECK(statusFor(Code::Unavailable) == 503);
    CHECK(statusFor(Code::ResourceExhausted) == 503);
    CHECK(statusFor(Code::Timeout) == 504);
    CHECK(statusFor(Code::Internal) == 500);
    CHECK(statusFor(Code::Ok) == 500);  // no failure to answer: a caller's bug
}

TEST_CASE("a kept-alive answer: status line, headers in order, length, keep-alive and body") {
    HttpResponse response{200, {{"Content-Type", "application/json"}, {"X-Room", "a"}}, "{\"seq\":7}"};
    CHECK(encodeResponse(response, true) ==
          "HTTP/1.1 200 OK\r\n"
          "Content-Type: application/json\r\n"
          "X-Room: a\r\n"
          "Content-Length: 9\r\n"
          "Connection: keep-alive\r\n"
          "Keep-Alive: timeout=4\r\n"
          "\r\n"
          "{\"seq\":7}");
}

TEST_CASE("an answer that closes its connection says so and sends no Keep-Alive") {
    CHECK(encodeResponse(HttpResponse::text(503, "draining\n"), false) ==
          "HTTP/1.1 503 Service Unavailable\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 9\r\n"
          "Connection: close\r\n"
          "\r\n"
          "draining\n");
}

TEST_CASE("an empty body is sent with Content-Length 0, and an unnamed status with an empty phrase") {
    CHECK(encodeResponse({418, {}, ""}, false) ==
          "HTTP/1.1 418 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
}

TEST_CASE("Content-Length counts bytes, binary ones included") {
    std::string body("\0\xff\r\n", 4);
    std::string out = encodeResponse({200, {}, body}, false);
    CHECK(out.find("Content-Length: 4\r\n") != std::string::npos);
    CHECK(out.substr(out.size() - 4) == body);
}
