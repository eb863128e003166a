#include "app/RoomRefusal.h"

#include <string>

#include "app/HttpIo.h"

namespace partyline {
namespace {

// An address past its new-room rate has a token again within a second (the rate is a whole
// number of rooms a second, at least one).
constexpr int kRetryAfterRateLimited = 1;

}  // namespace

HttpResponse roomRefusal(const Status& why) {
    HttpResponse response = HttpResponse::text(statusFor(why.code()), why.message() + "\n");
    if (why.code() == Code::ResourceExhausted)
        response.headers.emplace_back("Retry-After", std::to_string(kRetryAfterAtLimit));
    else if (why.code() == Code::RateLimited)
        response.headers.emplace_back("Retry-After", std::to_string(kRetryAfterRateLimited));
    return response;
}

}  // namespace partyline
