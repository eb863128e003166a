// Histogram: buckets, sum and count in the Prometheus text format.
#include <doctest/doctest.h>

#include <thread>
#include <vector>

#include "core/Histogram.h"

using namespace partyline;
using namespace std::chrono_literals;

TEST_CASE("an empty histogram renders every bucket at 0") {
    Histogram h;
    std::string text = h.render("x_seconds", "Help.");
    CHECK(text.find("# HELP x_seconds Help.\n# TYPE x_seconds histogram\n") == 0);
    CHECK(text.find("x_seconds_bucket{le=\"0.0005\"} 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_bucket{le=\"+Inf\"} 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_sum 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_count 0\n") != std::string::npos);
}

TEST_CASE("observations land in the first bucket at or above them, and buckets are cumulative") {
    Histogram h;
    h.observe(200us);  // <= 0.0005
    h.observe(1ms);    // <= 0.001 (bounds are inclusive)
    h.observe(30ms);   // <= 0.05
    h.observe(20s);    // +Inf only
    h.observe(-5ms);   // clock skew: 0
    std::string text = h.render("lat", "h");
    CHECK(text.find("lat_bucket{le=\"0.0005\"} 2\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"0.001\"} 3\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"0.025\"} 3\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"0.05\"} 4\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"10\"} 4\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"+Inf\"} 5\n") != std::string::npos);
    CHECK(text.find("lat_count 5\n") != std::string::npos);
    CHECK(text.find("lat_sum 20.0312\n") != std::string::npos);
    CHECK(h.count() == 5);
}

TEST_CASE("observations from many threads are all counted") {
    Histogram h;
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 10000; ++i) h.observe(std::chrono::microseconds(i));
        });
    for (auto& thread : threads) thread.join();
    CHECK(h.count() == 40000);
    CHECK(h.render("c", "h").find("c_count 40000\n") != std::string::npos);
}
