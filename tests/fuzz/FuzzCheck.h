// What every fuzz target shares: FUZZ_CHECK, a property the target asserts, and a bound on the heap
// one input may hold. Both abort on failure, which libFuzzer reports as a crash, saving the input.
#pragma once

#include <sanitizer/allocator_interface.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define FUZZ_CHECK(condition, what)                                                                      \
    do {                                                                                                 \
        if (!(condition)) {                                                                              \
            std::fprintf(stderr, "%s:%d: check failed: %s: %s\n", __FILE__, __LINE__, #condition, what); \
            std::abort();                                                                                \
        }                                                                                                \
    } while (0)

namespace fuzz {

// Inputs are at most a few KiB: holding more than this is a blow-up worth a report. libFuzzer's
// own -rss_limit_mb notices one only afterwards, and its report (a heap profile taken with every
// thread stopped) can take many minutes on a large heap, so the bound is checked at each malloc.
inline constexpr int64_t kHeapLimitBytes = int64_t(256) << 20;
inline std::atomic<int64_t> heapBytes{0};
inline std::atomic<bool> heapReported{false};

inline void countMalloc(const volatile void*, size_t size) {
    int64_t now = heapBytes.fetch_add(int64_t(size), std::memory_order_relaxed) + int64_t(size);
    if (now > kHeapLimitBytes && !heapReported.exchange(true)) {
        std::fprintf(stderr, "heap limit: this input made the process hold over %lld MiB\n",
                     static_cast<long long>(kHeapLimitBytes >> 20));
        std::abort();
    }
}

inline void countFree(const volatile void* ptr) {
    if (ptr)
        heapBytes.fetch_sub(int64_t(__sanitizer_get_allocated_size(const_cast<void*>(ptr))),
                            std::memory_order_relaxed);
}

inline const int kHeapHooks = __sanitizer_install_malloc_and_free_hooks(countMalloc, countFree);

}  // namespace fuzz
