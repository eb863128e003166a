// Executor and Strand: where shards run.
//
// A Strand is a serial queue of tasks: tasks posted to one strand run one at
// a time, in post order, on some thread of its Executor. Every shard owns one
// strand, so a room's Lua state and connection list need no lock. Posting
// never blocks and may happen from any thread (CivetWeb workers, NATS
// delivery threads, timers); a posted task never runs on the posting thread.
// tryRun is the one way to run on the calling thread: only when the strand is
// idle, and still one task at a time.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace partyline {

class Strand;

class Executor {
   public:
    // `name` prefixes each thread's name (pl-shard-0, pl-shard-1, ...; see ThreadName.h).
    explicit Executor(size_t threads, std::string name = "pl-pool");
    ~Executor();  // stop()
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    std::shared_ptr<Strand> makeStrand();

    // Not from one of its own threads. Runs no further task, joins the threads and drops the
    // tasks still queued. The executor stays valid: a task posted afterwards (by a thread of
    // another executor, say) is dropped, not run. Lets two executors whose tasks post to each
    // other both stop before either is destroyed.
    void stop();

   private:
    friend class Strand;
    void schedule(std::shared_ptr<Strand> strand);
    void run();
    static void dropTasks(Strand& strand);

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::shared_ptr<Strand>> ready_;
    bool stopping_ = false;
    std::vector<std::thread> threads_;
};

class Strand : public std::enable_shared_from_this<Strand> {
   public:
    using Task = std::function<void()>;

    // Any thread. The task runs later on one of the executor's threads.
    void post(Task task);

    // Any thread. When the strand is idle (nothing queued, nothing running), runs `task` at once
    // on the calling thread as the strand's next task and returns true; else runs nothing and
    // returns false. Saves waking an executor thread for short work that arrives on another
    // thread; `task` must not block. Tasks it posts run afterwards on the executor as usual.
    template <class F>
    bool tryRun(F&& task) {
        {
            std::lock_guard lock(mutex_);
            if (scheduled_) return false;
            scheduled_ = true;  // claimed: what is posted meanwhile waits behind this task
        }
        task();
        release();
        return true;
    }

   private:
    friend class Executor;
    explicit Strand(Executor& executor) : executor_(executor) {}
    // Executor thread: runs a bounded batch so one busy room cannot starve others.
    void runBatch();
    // After tryRun: hands tasks posted meanwhile to the executor, or marks the strand idle.
    void release();

    // Tasks per turn before the strand goes to the back of the ready queue.
    static constexpr size_t kBatch = 64;

    Executor& executor_;
    std::mutex mutex_;
    std::deque<Task> tasks_;
    bool scheduled_ = false;
};

}  // namespace partyline
