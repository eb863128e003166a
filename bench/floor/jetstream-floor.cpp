// partyline-jetstream-floor: what nats-server alone takes in acknowledged writes per second, sent
// the way partyline's NatsBus sends them, with nothing of partyline in the way.
//
// Creates its own stream FLOOR<pid> (file storage, 2-minute duplicate window, 10,000 messages per
// subject, each message republished to a live subject, as partyline's stream), subscribes to the
// live subjects and to an acknowledgement inbox, and publishes --count 64-byte messages over 10
// subjects with a reply inbox and a Nats-Msg-Id, at most --window unacknowledged. Prints the
// acknowledged writes per second; deletes the stream at the end. docs/PERFORMANCE.md, section 4.
//
// With --latency N it sends N writes one at a time, 50 per second, each leaving at once on the
// publishing thread (SendAsap, as NatsBus), and prints p50/p99/max from the publish to the
// republished copy's arrival in a subscription callback: the floor under the idle latency figure
// (section 1), with nothing of partyline and no HTTP or WebSocket hop.
//
// With --fast-batch N it writes the same messages as JetStream fast-ingest batches of N
// (nats-server 2.14+; floor/FastBatch): the stream is created with allow_batched, each batch is N
// plain publishes whose reply subjects carry the batch's id, sequence and operation, sent at most
// --outstanding flow acknowledgements ahead of the server, and the batch's one PubAck (its last
// stream sequence and count) acknowledges all N. --window W writes in flight make W / N batches
// in flight at once (one thread each, at least one). On an older server it refuses before
// creating anything. --check-seqs 1 records each republished copy's stream sequence and reports
// how many batches were not contiguous in the stream (another batch's writes between theirs), so
// that a write's sequence could not be told from its batch's PubAck. --probe 1 (2.14+) sends four
// small batches that show what a batch's answers say about message ids and expected-sequence
// headers, and prints every answer: docs/PERFORMANCE.md, section 13.
//
//   partyline-jetstream-floor nats://127.0.0.1:4222 [--count N] [--window W] [--msg-id 0|1]
//                             [--republish 0|1] [--asap 0|1] [--latency N] [--server-pid PID]
//                             [--fast-batch N [--outstanding A] [--flow F] [--check-seqs 0|1]]
//                             [--probe 1] [--progress N]
//
// --progress N prints "acknowledged N" once N writes are acknowledged (for a test that breaks the
// server mid-run).
//
// --asap 1 (the default, as NatsBus) writes each publish to the socket at once (SendAsap); 0 leaves
// them to nats.c's flusher thread, which gathers what accumulates while it waits. Every throughput
// run reports the CPU time this tool used, and with --server-pid that of the nats-server process
// (from /proc), per acknowledged write.
#include <nats/nats.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bus/NatsServerVersion.h"
#include "core/Json.h"
#include "floor/FastBatch.h"

namespace {

using partyline::bench::FastBatchAnswer;
using partyline::bench::FastBatchFlow;

std::atomic<long> acked{0}, live{0};
std::mutex mutex;
std::condition_variable ackCv, liveCv;

// --check-seqs: the stream sequence of each republished copy, by its message id.
bool checkSeqs = false;
std::mutex seqsMutex;
std::unordered_map<std::string, uint64_t> seqOfMsgId;

void onAck(natsConnection*, natsSubscription*, natsMsg* msg, void*) {
    natsMsg_Destroy(msg);
    acked++;
    std::lock_guard lock(mutex);
    ackCv.notify_one();
}

void onLive(natsConnection*, natsSubscription*, natsMsg* msg, void*) {
    if (checkSeqs) {
        const char *id = nullptr, *seq = nullptr;
        if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &id) == NATS_OK &&
            natsMsgHeader_Get(msg, "Nats-Sequence", &seq) == NATS_OK) {
            std::lock_guard lock(seqsMutex);
            seqOfMsgId[id] = std::strtoull(seq, nullptr, 10);
        }
    }
    natsMsg_Destroy(msg);
    live++;
    std::lock_guard lock(mutex);
    liveCv.notify_one();
}

int usage() {
    std::fprintf(
        stderr,
        "usage: partyline-jetstream-floor NATS_URL [--count N] [--window W] [--msg-id 0|1] "
        "[--republish 0|1] [--asap 0|1] [--latency N] [--server-pid PID] "
        "[--fast-batch N [--outstanding A] [--flow F] [--check-seqs 0|1]] [--probe 1] [--progress N]\n");
    return 2;
}

double cpuSecondsOfSelf() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

// User and system CPU time of process `pid` from /proc/PID/stat (fields 14 and 15, after the
// command's parenthesis); a negative value when it cannot be read.
double cpuSecondsOf(long pid) {
    if (pid <= 0) return -1;
    std::ifstream file("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
    size_t close = text.rfind(')');
    if (close == std::string::npos) return -1;
    std::istringstream fields(text.substr(close + 2));
    std::string field;
    double ticks = 0;
    for (int i = 3; i <= 15 && fields >> field; ++i)
        if (i >= 14) ticks += std::strtod(field.c_str(), nullptr);
    return ticks / double(sysconf(_SC_CLK_TCK));
}

struct Options {
    long count = 200000, window = 4096, latency = 0, serverPid = 0;
    long fastBatch = 0, outstanding = 2, flow = 0, progress = 0;
    bool msgId = true, republish = true, asap = true, probe = false;
};

// A JetStream API request `api` with `body`, 5 s for the answer: the answer parsed, or nothing when
// none came.
std::optional<partyline::Result<partyline::JsonValue>> apiRequest(natsConnection* nc, const std::string& api,
                                                                  const std::string& body) {
    natsMsg* reply = nullptr;
    if (natsConnection_Request(&reply, nc, api.c_str(), body.data(), int(body.size()), 5000) != NATS_OK)
        return std::nullopt;
    auto answer =
        partyline::parseJson(std::string_view(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply))));
    natsMsg_Destroy(reply);
    return answer;
}

// The stream as partyline's, created by a JetStream API request because nats.c's stream
// configuration has no allow_batched: file storage, 2-minute duplicate window, 10,000 messages per
// subject, direct get, each message republished to its live subject, fast-ingest batches allowed.
bool createBatchedStream(natsConnection* nc, const std::string& name, const std::string& stored,
                         const std::string& published, bool republish) {
    std::string config = R"({"name":")" + name + R"(","subjects":[")" + stored +
                         R"("],"retention":"limits","storage":"file","num_replicas":1,"discard":"old",)"
                         R"("duplicate_window":120000000000,"max_msgs_per_subject":10000,)"
                         R"("allow_direct":true,"allow_batched":true)";
    if (republish) config += R"(,"republish":{"src":")" + stored + R"(","dest":")" + published + R"("})";
    config += "}";
    const std::string api = "$JS.API.STREAM.CREATE." + name;
    auto reply = apiRequest(nc, api, config);
    if (!reply) {
        std::fprintf(stderr, "cannot create stream %s: no answer to %s\n", name.c_str(), api.c_str());
        return false;
    }
    const auto& answer = *reply;
    const partyline::JsonValue* error = answer ? answer->find("error") : nullptr;
    const partyline::JsonValue* cfg = answer ? answer->find("config") : nullptr;
    const partyline::JsonValue* batched = cfg ? cfg->find("allow_batched") : nullptr;
    if (!answer || error || !batched || !batched->asBool().value_or(false)) {
        const partyline::JsonValue* text = error ? error->find("description") : nullptr;
        std::fprintf(
            stderr, "cannot create stream %s with allow_batched: %s\n", name.c_str(),
            text && text->asString() ? text->asString()->c_str() : "the server did not keep the setting");
        return false;
    }
    return true;
}

// One thread of --fast-batch: sends whole batches one after the other, each through its own flow
// window, answers arriving on the inbox `prefix`.> (nats.c's delivery thread calls onAnswer).
struct BatchWriter {
    std::string prefix;
    natsSubscription* sub = nullptr;
    std::mutex mu;
    std::condition_variable cv;
    std::string id;                       // the batch in flight; answers of others are ignored
    std::unique_ptr<FastBatchFlow> flow;  // its window
    long flowAcks = 0;                    // flow acknowledgements received, for the report
    long pings = 0;                       // pings sent after a quiet spell, for the report
    long forgotten = 0, resent = 0;       // batches the server forgot, their writes sent again alone
};

void onAnswer(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* writer = static_cast<BatchWriter*>(closure);
    // The subject is the reply subject: <prefix>.<id>.<flow>.fail.<seq>.<op>.$FI.
    std::string_view subject = natsMsg_GetSubject(msg);
    subject.remove_prefix(std::min(subject.size(), writer->prefix.size() + 1));
    std::string_view id = subject.substr(0, subject.find('.'));
    auto answer = partyline::bench::parseFastBatchAnswer(
        std::string_view(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg))));
    natsMsg_Destroy(msg);
    std::lock_guard lock(writer->mu);
    if (!writer->flow || id != writer->id) return;
    if (answer.kind == FastBatchAnswer::Kind::FlowAck) writer->flowAcks++;
    writer->flow->take(answer);
    writer->cv.notify_one();
}

struct BatchStats {
    std::mutex mu;
    std::vector<std::pair<long, uint64_t>> lastSeqs;  // first write of each batch, its PubAck's seq
    std::string failure;
};

// The stream's message count and last sequence (-1 each when it does not answer).
std::pair<long long, long long> streamState(natsConnection* nc, const std::string& name) {
    auto reply = apiRequest(nc, "$JS.API.STREAM.INFO." + name, "");
    if (!reply) return {-1, -1};
    const auto& answer = *reply;
    const partyline::JsonValue* state = answer ? answer->find("state") : nullptr;
    const partyline::JsonValue* messages = state ? state->find("messages") : nullptr;
    const partyline::JsonValue* last = state ? state->find("last_seq") : nullptr;
    return {messages ? messages->asInteger().value_or(-1) : -1, last ? last->asInteger().value_or(-1) : -1};
}

// --probe: four batches of a few messages each on subjects <name>.room.probe.*, sent one message
// at a time (after the first, once the server answered it), every answer printed as it came.
struct Probe {
    std::mutex mu;
    std::condition_variable cv;
    std::string batch;  // the batch whose answers are collected
    std::vector<std::string> answers;
};

void onProbeAnswer(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
    auto* probe = static_cast<Probe*>(closure);
    // The subject is the reply subject of the message answered: <prefix>.<id>.10.fail.<seq>.<op>.$FI.
    std::string subject = natsMsg_GetSubject(msg);
    std::string line = std::string(natsMsg_GetData(msg), size_t(natsMsg_GetDataLength(msg)));
    natsMsg_Destroy(msg);
    std::vector<std::string> tokens;
    for (size_t at = 0, dot; at <= subject.size(); at = dot + 1) {
        dot = std::min(subject.find('.', at), subject.size());
        tokens.push_back(subject.substr(at, dot - at));
    }
    if (tokens.size() < 7) return;
    std::lock_guard lock(probe->mu);
    if (tokens[tokens.size() - 6] != probe->batch) return;
    probe->answers.push_back("to message " + tokens[tokens.size() - 3] + ": " + line);
    probe->cv.notify_one();
}

struct ProbeWrite {
    const char* msgId;
    const char* expectLastSubjectSeq;  // nullptr: none
};

int probeBatches(natsConnection* nc, const std::string& name, const std::string& inbox) {
    Probe probe;
    natsSubscription* sub = nullptr;
    const std::string prefix = inbox + ".p";
    natsConnection_Subscribe(&sub, nc, (prefix + ".>").c_str(), onProbeAnswer, &probe);
    natsConnection_Flush(nc);
    struct Case {
        const char* id;
        const char* what;
        const char* room;
        std::vector<ProbeWrite> writes;
        size_t answers;  // how many answers the batch gets
    };
    const std::vector<Case> cases = {
        {"a",
         "5 new message ids",
         "a",
         {{"m1", nullptr}, {"m2", nullptr}, {"m3", nullptr}, {"m4", nullptr}, {"m5", nullptr}},
         2},
        {"b",
         "ids m3 and m4 again, between 3 new ones",
         "a",
         {{"m3", nullptr}, {"n2", nullptr}, {"m4", nullptr}, {"n4", nullptr}, {"n5", nullptr}},
         2},
        {"c",
         "4 writes to another subject, the 2nd expecting its subject's last sequence 999",
         "c",
         {{"c1", nullptr}, {"c2", "999"}, {"c3", nullptr}, {"c4", nullptr}},
         4},
        {"d", "id m1 again first, then a new one", "a", {{"m1", nullptr}, {"d2", nullptr}}, 2},
    };
    int status = 0;
    for (const Case& c : cases) {
        std::printf("probe batch %s: %s\n", c.id, c.what);
        std::unique_lock lock(probe.mu);
        probe.answers.clear();
        probe.batch = c.id;
        const std::string subject = name + ".room.probe." + c.room;
        for (size_t i = 0; i < c.writes.size(); ++i) {
            const uint64_t seq = i + 1;
            const std::string reply = partyline::bench::fastBatchReply(
                prefix, c.id, 10, seq, partyline::bench::fastBatchOp(seq, c.writes.size()));
            lock.unlock();
            natsMsg* msg = nullptr;
            natsMsg_Create(&msg, subject.c_str(), reply.c_str(), "x", 1);
            natsMsgHeader_Set(msg, "Nats-Msg-Id", c.writes[i].msgId);
            if (c.writes[i].expectLastSubjectSeq)
                natsMsgHeader_Set(msg, "Nats-Expected-Last-Subject-Sequence",
                                  c.writes[i].expectLastSubjectSeq);
            natsConnection_PublishMsg(nc, msg);
            natsMsg_Destroy(msg);
            natsConnection_Flush(nc);
            lock.lock();
            // The first message's answer (the flow settings) comes before the second goes.
            if (i == 0)
                probe.cv.wait_for(lock, std::chrono::seconds(5), [&] { return !probe.answers.empty(); });
        }
        if (!probe.cv.wait_for(lock, std::chrono::seconds(5),
                               [&] { return probe.answers.size() >= c.answers; })) {
            std::fprintf(stderr, "probe batch %s: %zu of %zu answers in 5 s\n", c.id, probe.answers.size(),
                         c.answers);
            status = 1;
        }
        for (const std::string& answer : probe.answers) std::printf("  answer %s\n", answer.c_str());
    }
    auto [messages, last] = streamState(nc, name);
    std::printf("probe stream: %lld messages, last sequence %lld\n", messages, last);
    natsSubscription_Destroy(sub);
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const char* url = argv[1];
    Options o;
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        long value = std::atol(argv[i + 1]);
        if (flag == "--count")
            o.count = value;
        else if (flag == "--window")
            o.window = value;
        else if (flag == "--msg-id")
            o.msgId = value != 0;
        else if (flag == "--republish")
            o.republish = value != 0;
        else if (flag == "--latency")
            o.latency = value;
        else if (flag == "--asap")
            o.asap = value != 0;
        else if (flag == "--server-pid")
            o.serverPid = value;
        else if (flag == "--fast-batch")
            o.fastBatch = value;
        else if (flag == "--outstanding")
            o.outstanding = value;
        else if (flag == "--flow")
            o.flow = value;
        else if (flag == "--check-seqs")
            checkSeqs = value != 0;
        else if (flag == "--probe")
            o.probe = value != 0;
        else if (flag == "--progress")
            o.progress = value;
        else
            return usage();
    }
    if (o.count <= 0 || o.window <= 0 || o.latency < 0 || (o.latency > 0 && !o.republish)) return usage();
    if (o.fastBatch < 0 || o.outstanding <= 0 || o.flow < 0 || o.flow > 65535 ||
        (o.fastBatch > 0 && o.latency > 0) || (checkSeqs && (o.fastBatch == 0 || !o.republish || !o.msgId)) ||
        (o.probe && (o.fastBatch > 0 || o.latency > 0)))
        return usage();
    const bool batched = o.fastBatch > 0 || o.probe;
    if (batched) {
        auto version = partyline::probeServerVersion(url);
        if (!version) {
            std::fprintf(stderr, "cannot read the server version of %s: %s\n", url,
                         version.status().message().c_str());
            return 1;
        }
        if (!version->atLeast(2, 14)) {
            std::fprintf(stderr,
                         "--fast-batch and --probe need nats-server 2.14 or newer (fast-ingest batches, "
                         "stream setting "
                         "allow_batched); %s runs %s\n",
                         url, version->text.c_str());
            return 2;
        }
    }

    natsOptions* opts = nullptr;
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, url);
    natsOptions_UseGlobalMessageDelivery(opts, true);
    natsOptions_SetSendAsap(opts, o.asap);
    // Back soon after a server restart, however long it takes.
    natsOptions_SetReconnectWait(opts, 100);
    natsOptions_SetMaxReconnect(opts, -1);
    if (natsConnection_Connect(&nc, opts) != NATS_OK ||
        natsConnection_JetStream(&js, nc, nullptr) != NATS_OK) {
        std::fprintf(stderr, "cannot connect to %s\n", url);
        return 1;
    }
    const std::string name = "FLOOR" + std::to_string(getpid());
    const std::string stored = name + ".room.>", published = name + ".live.>";
    if (batched) {
        if (!createBatchedStream(nc, name, stored, published, o.republish)) return 1;
    } else {
        const char* subjects[] = {stored.c_str()};
        jsRePublish rp;
        jsRePublish_Init(&rp);
        rp.Source = stored.c_str();
        rp.Destination = published.c_str();
        jsStreamConfig cfg;
        jsStreamConfig_Init(&cfg);
        cfg.Name = name.c_str();
        cfg.Subjects = subjects;
        cfg.SubjectsLen = 1;
        cfg.Storage = js_FileStorage;
        cfg.Duplicates = 120LL * 1000 * 1000 * 1000;
        cfg.MaxMsgsPerSubject = 10000;
        cfg.AllowDirect = true;
        if (o.republish) cfg.RePublish = &rp;
        jsStreamInfo* info = nullptr;
        jsErrCode jerr = jsErrCode(0);
        if (js_AddStream(&info, js, &cfg, nullptr, &jerr) != NATS_OK) {
            std::fprintf(stderr, "cannot create stream %s (err_code %d)\n", name.c_str(), int(jerr));
            return 1;
        }
        jsStreamInfo_Destroy(info);
    }
    const std::string inbox = "_FLOOR" + std::to_string(getpid());
    natsSubscription *acks = nullptr, *lives = nullptr;
    natsConnection_Subscribe(&acks, nc, (inbox + ".*").c_str(), onAck, nullptr);
    natsConnection_Subscribe(&lives, nc, published.c_str(), onLive, nullptr);
    natsSubscription_SetPendingLimits(acks, -1, -1);
    natsSubscription_SetPendingLimits(lives, -1, -1);
    natsConnection_Flush(nc);

    const std::string data(64, 'x');
    auto subjectOf = [&](long n) { return name + ".room.main.r" + std::to_string(n % 10); };
    auto msgIdOf = [&](long n) { return name + "-" + std::to_string(n); };
    // Write number n with reply subject `reply`, as NatsBus writes: to one of 10 rooms, with a
    // message id.
    auto send = [&](long n, const std::string& reply) {
        natsMsg* msg = nullptr;
        natsMsg_Create(&msg, subjectOf(n).c_str(), reply.c_str(), data.data(), int(data.size()));
        if (o.msgId) natsMsgHeader_Set(msg, "Nats-Msg-Id", msgIdOf(n).c_str());
        natsConnection_PublishMsg(nc, msg);
        natsMsg_Destroy(msg);
    };
    auto publish = [&](long n) { send(n, inbox + "." + std::to_string(n)); };
    // Write number n alone, waiting for its PubAck (a stored message id answers as a duplicate).
    auto resendAlone = [&](long n) {
        natsMsg *msg = nullptr, *reply = nullptr;
        natsMsg_Create(&msg, subjectOf(n).c_str(), nullptr, data.data(), int(data.size()));
        natsMsgHeader_Set(msg, "Nats-Msg-Id", msgIdOf(n).c_str());
        const bool answered = natsConnection_RequestMsg(&reply, nc, msg, 5000) == NATS_OK;
        natsMsg_Destroy(msg);
        if (!answered) return false;
        auto answer = partyline::bench::parseFastBatchAnswer(
            std::string_view(natsMsg_GetData(reply), size_t(natsMsg_GetDataLength(reply))));
        natsMsg_Destroy(reply);
        return answer.kind == FastBatchAnswer::Kind::Committed;
    };
    if (o.probe) {
        const int status = probeBatches(nc, name, inbox);
        js_DeleteStream(js, name.c_str(), nullptr, nullptr);
        return status;
    }
    if (o.latency > 0) {
        std::vector<double> ms;
        for (long i = 0; i < o.latency; ++i) {
            const long before = live.load();
            const auto sent = std::chrono::steady_clock::now();
            publish(i);
            std::unique_lock lock(mutex);
            if (!liveCv.wait_for(lock, std::chrono::seconds(5), [&] { return live.load() > before; })) {
                std::fprintf(stderr, "write %ld: no republished copy in 5 s\n", i);
                return 1;
            }
            ms.push_back(
                std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count());
            lock.unlock();
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::sort(ms.begin(), ms.end());
        std::printf(
            "publish -> republished copy, %ld writes at 50/s: p50 %.3f ms  p99 %.3f ms  max %.3f ms\n",
            o.latency, ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back());
        js_DeleteStream(js, name.c_str(), nullptr, nullptr);
        return 0;
    }

    const double selfBefore = cpuSecondsOfSelf(), serverBefore = cpuSecondsOf(o.serverPid);
    const auto start = std::chrono::steady_clock::now();
    BatchStats stats;
    std::atomic<bool> progressed{o.progress <= 0};
    auto reportProgress = [&] {
        if (acked.load() >= o.progress && !progressed.exchange(true)) {
            std::printf("acknowledged %ld\n", o.progress);
            std::fflush(stdout);
        }
    };
    long writers = 0, flowAcks = 0, pings = 0, forgotten = 0, resent = 0;
    if (o.fastBatch > 0) {
        // Batch k holds writes k*N .. k*N+N-1 (the last batch fewer); each writer takes the next.
        const long size = o.fastBatch, batches = (o.count + size - 1) / size;
        const int flow = int(o.flow > 0 ? o.flow : std::min<long>(size, 65535));
        writers = std::max<long>(1, std::min(batches, o.window / size));
        std::atomic<long> nextBatch{0};
        std::vector<std::unique_ptr<BatchWriter>> pool;
        for (long w = 0; w < writers; ++w) {
            auto writer = std::make_unique<BatchWriter>();
            writer->prefix = inbox + ".w" + std::to_string(w);
            natsConnection_Subscribe(&writer->sub, nc, (writer->prefix + ".>").c_str(), onAnswer,
                                     writer.get());
            natsSubscription_SetPendingLimits(writer->sub, -1, -1);
            pool.push_back(std::move(writer));
        }
        natsConnection_Flush(nc);
        auto run = [&](BatchWriter& writer) {
            for (long k = nextBatch++; k < batches; k = nextBatch++) {
                const long first = k * size, n = std::min(size, o.count - first);
                std::unique_lock lock(writer.mu);
                writer.id = "b" + std::to_string(k);
                writer.flow = std::make_unique<FastBatchFlow>(uint64_t(n), uint64_t(o.outstanding));
                FastBatchFlow& state = *writer.flow;
                for (int quiet = 0;;) {
                    // An acknowledgement may be lost: after 200 quiet ms, a ping (which does not
                    // advance the batch) has the server send its last one again.
                    if (!writer.cv.wait_for(lock, std::chrono::milliseconds(200),
                                            [&] { return state.over() || state.maySend(); })) {
                        if (++quiet == 150) {
                            std::lock_guard failed(stats.mu);
                            stats.failure = "batch " + writer.id + ": no answer in 30 s (" +
                                            std::to_string(state.next() - 1) + " sent, " +
                                            std::to_string(state.acknowledged()) + " acknowledged)";
                            return;
                        }
                        const std::string reply =
                            partyline::bench::fastBatchReply(writer.prefix, writer.id, flow, state.next() - 1,
                                                             partyline::bench::FastBatchOp::Ping);
                        lock.unlock();
                        natsConnection_PublishRequest(nc, subjectOf(first).c_str(), reply.c_str(), "", 0);
                        lock.lock();
                        writer.pings++;
                        continue;
                    }
                    if (state.over()) break;
                    const uint64_t seq = state.next();
                    state.sent();
                    const std::string reply = partyline::bench::fastBatchReply(
                        writer.prefix, writer.id, flow, seq, partyline::bench::fastBatchOp(seq, uint64_t(n)));
                    lock.unlock();
                    send(first + long(seq) - 1, reply);
                    lock.lock();
                }
                if (state.forgotten() && o.msgId) {
                    // The server no longer knows the batch (its PubAck was lost, or it gave the
                    // batch up): what came after the acknowledged writes may or may not be stored,
                    // so each goes again alone with its message id, a stored one answered as a
                    // duplicate.
                    const uint64_t from = state.acknowledged() + 1;
                    lock.unlock();
                    for (uint64_t seq = from; seq <= uint64_t(n); ++seq) {
                        if (!resendAlone(first + long(seq) - 1)) {
                            std::lock_guard failed(stats.mu);
                            stats.failure = "batch " + writer.id + ": write " + std::to_string(seq) +
                                            " sent again alone was not acknowledged";
                            return;
                        }
                    }
                    acked += n;
                    reportProgress();
                    writer.forgotten++;
                    writer.resent += long(uint64_t(n) + 1 - from);
                    continue;
                }
                if (!state.error().empty() || state.stored() != uint64_t(n)) {
                    std::lock_guard failed(stats.mu);
                    stats.failure = "batch " + writer.id + ": " + std::to_string(state.stored()) + " of " +
                                    std::to_string(n) + " stored" +
                                    (state.error().empty() ? "" : ": " + state.error());
                    return;
                }
                acked += n;
                reportProgress();
                std::lock_guard record(stats.mu);
                stats.lastSeqs.emplace_back(first, state.lastStreamSeq());
            }
        };
        std::vector<std::thread> threads;
        for (auto& writer : pool) threads.emplace_back(run, std::ref(*writer));
        for (auto& thread : threads) thread.join();
        for (auto& writer : pool) {
            flowAcks += writer->flowAcks;
            pings += writer->pings;
            forgotten += writer->forgotten;
            resent += writer->resent;
            natsSubscription_Destroy(writer->sub);
        }
        if (!stats.failure.empty()) {
            std::fprintf(stderr, "fast batch failed: %s\n", stats.failure.c_str());
            js_DeleteStream(js, name.c_str(), nullptr, nullptr);
            return 1;
        }
    } else {
        for (long sent = 0; sent < o.count; ++sent) {
            {
                std::unique_lock lock(mutex);
                ackCv.wait(lock, [&] { return sent - acked.load() < o.window; });
            }
            publish(sent);
            reportProgress();
        }
        std::unique_lock lock(mutex);
        ackCv.wait(lock, [&] { return acked.load() >= o.count; });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double selfCpu = cpuSecondsOfSelf() - selfBefore, serverAfter = cpuSecondsOf(o.serverPid);
    nats_Sleep(500);
    std::string mode = o.fastBatch > 0
                           ? ", fast batches of " + std::to_string(o.fastBatch) + " (" +
                                 std::to_string(writers) + " in flight, " + std::to_string(flowAcks) +
                                 " flow acks, " + std::to_string(pings) + " pings, " +
                                 std::to_string(forgotten) + " batches forgotten, " + std::to_string(resent) +
                                 " writes sent again alone)"
                           : "";
    std::printf(
        "%ld acknowledged writes in %.2f s: %.0f/s (msg-id %s, republish %s, send-asap %s, window %ld%s); "
        "%ld "
        "republished copies received\n",
        o.count, seconds, double(o.count) / seconds, o.msgId ? "on" : "off", o.republish ? "on" : "off",
        o.asap ? "on" : "off", o.window, mode.c_str(), live.load());
    std::printf("CPU: this tool %.2f s (%.2f us per write)", selfCpu, selfCpu * 1e6 / double(o.count));
    if (serverBefore >= 0 && serverAfter >= 0)
        std::printf(", nats-server %.2f s (%.2f us per write)", serverAfter - serverBefore,
                    (serverAfter - serverBefore) * 1e6 / double(o.count));
    std::printf("\n");
    // Every write stored once, none twice: each stored message took one sequence (retention may
    // have dropped the oldest since).
    std::printf("stream: last sequence %lld for %ld writes\n", streamState(nc, name).second, o.count);
    if (checkSeqs) {
        // A batch is contiguous when its writes hold the stream sequences last - n + 1 .. last.
        long apart = 0, unseen = 0;
        std::lock_guard lock(seqsMutex);
        for (auto [first, last] : stats.lastSeqs) {
            const long n = std::min(o.fastBatch, o.count - first);
            for (long i = 0; i < n; ++i) {
                auto found = seqOfMsgId.find(msgIdOf(first + i));
                if (found == seqOfMsgId.end()) {
                    ++unseen;
                    break;
                }
                if (found->second != last - uint64_t(n - 1 - i)) {
                    ++apart;
                    break;
                }
            }
        }
        std::printf(
            "sequences: %ld of %zu batches not contiguous in the stream (a write's sequence is not last - "
            "count + "
            "i), %ld without every republished copy\n",
            apart, stats.lastSeqs.size(), unseen);
    }
    natsSubscription_Destroy(acks);
    natsSubscription_Destroy(lives);
    js_DeleteStream(js, name.c_str(), nullptr, nullptr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return 0;
}
