#include "core/Executor.h"

#include <string>

#include "core/ThreadName.h"

namespace partyline {

Executor::Executor(size_t threads, std::string name) {
    if (threads == 0) threads = 1;
    for (size_t i = 0; i < threads; ++i)
        threads_.emplace_back([this, label = name + "-" + std::to_string(i)] {
            nameThisThread(label);
            run();
        });
}

Executor::~Executor() {
    stop();
}

void Executor::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    // Tasks that never ran often hold their shard, which holds its strand:
    // drop them, or the pair keeps itself alive.
    std::deque<std::shared_ptr<Strand>> ready;
    {
        std::lock_guard lock(mutex_);
        ready.swap(ready_);
    }
    for (auto& strand : ready) dropTasks(*strand);
}

void Executor::dropTasks(Strand& strand) {
    std::deque<Strand::Task> dropped;  // destroyed after the lock is released
    std::lock_guard lock(strand.mutex_);
    dropped.swap(strand.tasks_);
    strand.scheduled_ = false;  // a later post comes back to schedule() and is dropped too
}

std::shared_ptr<Strand> Executor::makeStrand() {
    return std::shared_ptr<Strand>(new Strand(*this));
}

void Executor::schedule(std::shared_ptr<Strand> strand) {
    {
        std::lock_guard lock(mutex_);
        if (!stopping_) {
            ready_.push_back(std::move(strand));
            wake_.notify_one();
            return;
        }
    }
    dropTasks(*strand);
}

void Executor::run() {
    for (;;) {
        std::shared_ptr<Strand> strand;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [&] { return stopping_ || !ready_.empty(); });
            if (stopping_) return;
            strand = std::move(ready_.front());
            ready_.pop_front();
        }
        strand->runBatch();
    }
}

void Strand::post(Task task) {
    bool schedule = false;
    {
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(task));
        if (!scheduled_) scheduled_ = schedule = true;
    }
    if (schedule) executor_.schedule(shared_from_this());
}

void Strand::release() {
    bool more = false;
    {
        std::lock_guard lock(mutex_);
        more = !tasks_.empty();
        if (!more) scheduled_ = false;
    }
    if (more) executor_.schedule(shared_from_this());
}

void Strand::runBatch() {
    for (size_t i = 0; i < kBatch; ++i) {
        Task task;
        {
            std::lock_guard lock(mutex_);
            if (tasks_.empty()) {
                scheduled_ = false;
                return;
            }
            task = std::move(tasks_.front());
            tasks_.pop_front();
        }
        task();
    }
    // More work left: let other strands have a turn first.
    executor_.schedule(shared_from_this());
}

}  // namespace partyline
