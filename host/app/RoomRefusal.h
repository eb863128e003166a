// RoomRefusal: the answer to a client whose request or upgrade could not reach its room.
//
// RoomRegistry::open refuses a new room at limits.max_rooms (503) or past the address's
// limits.max_new_rooms_per_ip_per_second (429); both answers carry Retry-After, so clients back
// off instead of retrying at once. Any other failure gets the status of its code (statusFor).
// Must not: decide anything (RoomAdmission did) or write to the connection (callers send it).
#pragma once

#include "core/Status.h"
#include "rooms/Http.h"

namespace partyline {

HttpResponse roomRefusal(const Status& why);

}  // namespace partyline
