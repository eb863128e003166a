#include <doctest/doctest.h>

#include "Percentiles.h"

using partyline::bench::Percentiles;

TEST_CASE("an empty histogram reports zero") {
    Percentiles h;
    CHECK(h.count() == 0);
    CHECK(h.percentile(0.5) == 0);
    CHECK(h.max() == 0);
}

TEST_CASE("percentiles are within 1% of the true value, and the max is exact") {
    Percentiles h;
    for (uint64_t micros = 1; micros <= 10000; ++micros) h.record(micros * 1000);
    CHECK(h.count() == 10000);
    CHECK(h.max() == 10000 * 1000);
    CHECK(h.percentile(0.5) == doctest::Approx(5000 * 1000).epsilon(0.01));
    CHECK(h.percentile(0.99) == doctest::Approx(9900 * 1000).epsilon(0.01));
    CHECK(h.percentile(1.0) <= h.max());
}

TEST_CASE("small values are exact") {
    Percentiles h;
    for (uint64_t v : {0, 1, 2, 3, 127}) h.record(v);
    CHECK(h.percentile(0.2) == 0);
    CHECK(h.percentile(0.6) == 2);
    CHECK(h.percentile(1.0) == 127);
}

TEST_CASE("merging adds the samples of both") {
    Percentiles a, b;
    for (int i = 0; i < 99; ++i) a.record(1000);
    b.record(5'000'000'000);
    a.merge(b);
    CHECK(a.count() == 100);
    CHECK(a.max() == 5'000'000'000);
    CHECK(a.percentile(0.5) == doctest::Approx(1000).epsilon(0.01));
    CHECK(a.percentile(1.0) == doctest::Approx(5'000'000'000).epsilon(0.01));
}
