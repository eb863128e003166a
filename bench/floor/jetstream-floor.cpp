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
//   partyline-jetstream-floor nats://127.0.0.1:4222 [--count N] [--window W] [--msg-id 0|1]
//                             [--republish 0|1] [--asap 0|1] [--latency N]
//
// --asap 1 (the default, as NatsBus) writes each publish to the socket at once (SendAsap); 0 leaves
// them to nats.c's flusher thread, which gathers what accumulates while it waits.
#include <nats/nats.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

std::atomic<long> acked{0}, live{0};
std::mutex mutex;
std::condition_variable ackCv, liveCv;

void onAck(natsConnection*, natsSubscription*, natsMsg* msg, void*) {
    natsMsg_Destroy(msg);
    acked++;
    std::lock_guard lock(mutex);
    ackCv.notify_one();
}

void onLive(natsConnection*, natsSubscription*, natsMsg* msg, void*) {
    natsMsg_Destroy(msg);
    live++;
    std::lock_guard lock(mutex);
    liveCv.notify_one();
}

int usage() {
    std::fprintf(stderr,
                 "usage: partyline-jetstream-floor NATS_URL [--count N] [--window W] [--msg-id 0|1] "
                 "[--republish 0|1] [--asap 0|1] [--latency N]\n");
    return 2;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return usage();
    const char* url = argv[1];
    long count = 200000, window = 4096, latency = 0;
    bool msgId = true, republish = true, asap = true;
    for (int i = 2; i + 1 < argc; i += 2) {
        std::string flag = argv[i];
        long value = std::atol(argv[i + 1]);
        if (flag == "--count")
            count = value;
        else if (flag == "--window")
            window = value;
        else if (flag == "--msg-id")
            msgId = value != 0;
        else if (flag == "--republish")
            republish = value != 0;
        else if (flag == "--latency")
            latency = value;
        else if (flag == "--asap")
            asap = value != 0;
        else
            return usage();
    }
    if (count <= 0 || window <= 0 || latency < 0 || (latency > 0 && !republish)) return usage();

    natsOptions* opts = nullptr;
    natsConnection* nc = nullptr;
    jsCtx* js = nullptr;
    natsOptions_Create(&opts);
    natsOptions_SetURL(opts, url);
    natsOptions_UseGlobalMessageDelivery(opts, true);
    natsOptions_SetSendAsap(opts, asap);
    if (natsConnection_Connect(&nc, opts) != NATS_OK ||
        natsConnection_JetStream(&js, nc, nullptr) != NATS_OK) {
        std::fprintf(stderr, "cannot connect to %s\n", url);
        return 1;
    }
    const std::string name = "FLOOR" + std::to_string(getpid());
    const std::string stored = name + ".room.>", published = name + ".live.>";
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
    if (republish) cfg.RePublish = &rp;
    jsStreamInfo* info = nullptr;
    jsErrCode jerr = jsErrCode(0);
    if (js_AddStream(&info, js, &cfg, nullptr, &jerr) != NATS_OK) {
        std::fprintf(stderr, "cannot create stream %s (err_code %d)\n", name.c_str(), int(jerr));
        return 1;
    }
    jsStreamInfo_Destroy(info);
    const std::string inbox = "_FLOOR" + std::to_string(getpid());
    natsSubscription *acks = nullptr, *lives = nullptr;
    natsConnection_Subscribe(&acks, nc, (inbox + ".*").c_str(), onAck, nullptr);
    natsConnection_Subscribe(&lives, nc, published.c_str(), onLive, nullptr);
    natsSubscription_SetPendingLimits(acks, -1, -1);
    natsSubscription_SetPendingLimits(lives, -1, -1);
    natsConnection_Flush(nc);

    const std::string data(64, 'x');
    // Write number n, as NatsBus writes: to one of 10 rooms, with a reply inbox and a message id.
    auto publish = [&](long n) {
        std::string subject = name + ".room.main.r" + std::to_string(n % 10);
        std::string reply = inbox + "." + std::to_string(n);
        natsMsg* msg = nullptr;
        natsMsg_Create(&msg, subject.c_str(), reply.c_str(), data.data(), int(data.size()));
        if (msgId) natsMsgHeader_Set(msg, "Nats-Msg-Id", (name + "-" + std::to_string(n)).c_str());
        natsConnection_PublishMsg(nc, msg);
        natsMsg_Destroy(msg);
    };
    if (latency > 0) {
        std::vector<double> ms;
        for (long i = 0; i < latency; ++i) {
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
            latency, ms[ms.size() / 2], ms[std::min(ms.size() - 1, ms.size() * 99 / 100)], ms.back());
        js_DeleteStream(js, name.c_str(), nullptr, nullptr);
        return 0;
    }
    const auto start = std::chrono::steady_clock::now();
    for (long sent = 0; sent < count; ++sent) {
        {
            std::unique_lock lock(mutex);
            ackCv.wait(lock, [&] { return sent - acked.load() < window; });
        }
        publish(sent);
    }
    {
        std::unique_lock lock(mutex);
        ackCv.wait(lock, [&] { return acked.load() >= count; });
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    nats_Sleep(500);
    std::printf(
        "%ld acknowledged writes in %.2f s: %.0f/s (msg-id %s, republish %s, send-asap %s, window %ld); %ld "
        "republished copies received\n",
        count, seconds, double(count) / seconds, msgId ? "on" : "off", republish ? "on" : "off",
        asap ? "on" : "off", window, live.load());
    natsSubscription_Destroy(acks);
    natsSubscription_Destroy(lives);
    js_DeleteStream(js, name.c_str(), nullptr, nullptr);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    natsOptions_Destroy(opts);
    return 0;
}
