#include "floor/FastBatch.h"

#include <algorithm>

#include "core/Json.h"

namespace partyline::bench {

FastBatchOp fastBatchOp(uint64_t seq, uint64_t size) {
    if (seq >= size) return FastBatchOp::Commit;
    return seq == 1 ? FastBatchOp::Start : FastBatchOp::Append;
}

std::string fastBatchReply(std::string_view inbox, std::string_view id, int maxFlow, uint64_t seq,
                           FastBatchOp op) {
    std::string reply;
    reply.reserve(inbox.size() + id.size() + 40);
    reply.append(inbox).append(".").append(id).append(".").append(std::to_string(maxFlow));
    reply.append(".fail.").append(std::to_string(seq)).append(".");
    reply.append(std::to_string(static_cast<int>(op))).append(".$FI");
    return reply;
}

namespace {

uint64_t unsignedOf(const JsonValue& object, std::string_view key) {
    const JsonValue* value = object.find(key);
    auto number = value ? value->asInteger() : std::nullopt;
    return number && *number > 0 ? static_cast<uint64_t>(*number) : 0;
}

void readError(const JsonValue& error, FastBatchAnswer& answer) {
    answer.errCode = static_cast<int>(unsignedOf(error, "err_code"));
    const JsonValue* description = error.find("description");
    if (description && description->asString()) answer.description = *description->asString();
}

}  // namespace

FastBatchAnswer parseFastBatchAnswer(std::string_view json) {
    FastBatchAnswer answer;
    auto parsed = parseJson(json);
    if (!parsed || !parsed->asObject()) return answer;
    const JsonValue& object = *parsed;
    const JsonValue* type = object.find("type");
    const JsonValue* error = object.find("error");
    answer.seq = unsignedOf(object, "seq");
    if (type && type->asString()) {
        const std::string& name = *type->asString();
        if (name == "ack") {
            answer.kind = FastBatchAnswer::Kind::FlowAck;
            answer.messages = unsignedOf(object, "msgs");
        } else if (name == "gap") {
            answer.kind = FastBatchAnswer::Kind::Gap;
        } else if (name == "err") {
            answer.kind = FastBatchAnswer::Kind::FlowError;
            if (error) readError(*error, answer);
        }
        return answer;
    }
    if (error) {
        answer.kind = FastBatchAnswer::Kind::Refused;
        readError(*error, answer);
        return answer;
    }
    if (!object.find("stream") || answer.seq == 0) return answer;
    answer.kind = FastBatchAnswer::Kind::Committed;
    answer.streamSeq = answer.seq;
    // A batch of one is answered by a plain PubAck, without "count".
    answer.count = object.find("count") ? unsignedOf(object, "count") : 1;
    const JsonValue* duplicate = object.find("duplicate");
    answer.duplicate = duplicate && duplicate->asBool().value_or(false);
    return answer;
}

FastBatchFlow::FastBatchFlow(uint64_t size, uint64_t outstanding)
    : size_(size), outstanding_(std::max<uint64_t>(1, outstanding)) {}

bool FastBatchFlow::maySend() const {
    if (over_ || stopped_ || sent_ >= size_) return false;
    if (sent_ == 0) return true;
    if (!answered_) return false;
    return sent_ < acked_ + every_ * outstanding_;
}

void FastBatchFlow::take(const FastBatchAnswer& answer) {
    using Kind = FastBatchAnswer::Kind;
    switch (answer.kind) {
        case Kind::FlowAck:
            answered_ = true;
            acked_ = std::max(acked_, answer.seq);
            every_ = std::max<uint64_t>(1, answer.messages);
            break;
        case Kind::Gap:
            stopped_ = true;
            error_ = "the server missed messages " + std::to_string(answer.seq) + " and before";
            break;
        case Kind::FlowError:
            stopped_ = true;
            error_ = "message " + std::to_string(answer.seq) + " refused: " + answer.description;
            break;
        case Kind::Committed:
            over_ = true;
            stored_ = answer.count;
            streamSeq_ = answer.streamSeq;
            acked_ = std::max(acked_, answer.count);
            break;
        case Kind::Refused:
            over_ = true;
            errCode_ = answer.errCode;
            error_ = answer.description + " (err_code " + std::to_string(answer.errCode) + ")";
            break;
        case Kind::Unreadable:
            break;
    }
}

}  // namespace partyline::bench
