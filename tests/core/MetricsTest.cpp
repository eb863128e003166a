// Metrics: the Prometheus text format of counters, gauges and histograms, with HELP and TYPE once
// per family, labels, and the escaping of label values and help text.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "core/Metrics.h"

using namespace partyline;
using namespace std::chrono_literals;

namespace {

size_t occurrences(const std::string& text, const std::string& what) {
    size_t count = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size()))
        ++count;
    return count;
}

}  // namespace

TEST_CASE("a counter is its HELP, its TYPE and one sample") {
    Metrics out;
    out.counter("partyline_publishes_total", "Writes published by room scripts.", uint64_t(42));
    CHECK(out.text() ==
          "# HELP partyline_publishes_total Writes published by room scripts.\n"
          "# TYPE partyline_publishes_total counter\n"
          "partyline_publishes_total 42\n");
}

TEST_CASE("gauges take any number: integers exactly, others as the shortest text that reads back") {
    Metrics out;
    out.gauge("a", "h", -3);
    out.gauge("b", "h", size_t(7));
    out.gauge("c", "h", std::numeric_limits<uint64_t>::max());
    out.gauge("d", "h", 0.25);
    out.gauge("e", "h", std::nan(""));
    out.gauge("f", "h", -std::numeric_limits<double>::infinity());
    const std::string& text = out.text();
    CHECK(text.find("# TYPE a gauge\na -3\n") != std::string::npos);
    CHECK(text.find("\nb 7\n") != std::string::npos);
    CHECK(text.find("\nc 18446744073709551615\n") != std::string::npos);
    CHECK(text.find("\nd 0.25\n") != std::string::npos);
    CHECK(text.find("\ne NaN\n") != std::string::npos);
    CHECK(text.find("\nf -Inf\n") != std::string::npos);
}

TEST_CASE("samples of one name in a row are one family: HELP and TYPE once, a sample per label set") {
    Metrics out;
    out.counter("partyline_fetch_total", "Fetches by outcome.", 5, {{"status", "ok"}});
    out.counter("partyline_fetch_total", "Fetches by outcome.", 1, {{"status", "timeout"}});
    out.gauge("partyline_rooms", "Shards.", 2);
    CHECK(out.text() ==
          "# HELP partyline_fetch_total Fetches by outcome.\n"
          "# TYPE partyline_fetch_total counter\n"
          "partyline_fetch_total{status=\"ok\"} 5\n"
          "partyline_fetch_total{status=\"timeout\"} 1\n"
          "# HELP partyline_rooms Shards.\n"
          "# TYPE partyline_rooms gauge\n"
          "partyline_rooms 2\n");
}

TEST_CASE("several labels are written in order, comma-separated") {
    Metrics out;
    out.counter("x_total", "h", 1, {{"party", "chat"}, {"status", "ok"}});
    CHECK(out.text().find("\nx_total{party=\"chat\",status=\"ok\"} 1\n") != std::string::npos);
}

TEST_CASE("label values escape backslash, double quote and line feed, and nothing else") {
    CHECK(Metrics::escapeLabelValue("plain") == "plain");
    CHECK(Metrics::escapeLabelValue("a\"b") == "a\\\"b");
    CHECK(Metrics::escapeLabelValue("C:\\dir") == "C:\\\\dir");
    CHECK(Metrics::escapeLabelValue("two\nlines") == "two\\nlines");
    CHECK(Metrics::escapeLabelValue("tab\tand é, {braces} = fine") == "tab\tand é, {braces} = fine");
    Metrics out;
    out.counter("x_total", "h", 1, {{"url", "https://a/\"q\"\\\n"}});
    CHECK(out.text().find("\nx_total{url=\"https://a/\\\"q\\\"\\\\\\n\"} 1\n") != std::string::npos);
}

TEST_CASE("help text escapes backslash and line feed; double quotes stay") {
    CHECK(Metrics::escapeHelp("say \"hi\"\\now\nthen") == "say \"hi\"\\\\now\\nthen");
    Metrics out;
    out.gauge("g", "one\ntwo", 1);
    CHECK(out.text().find("# HELP g one\\ntwo\n# TYPE g gauge\n") == 0);
}

TEST_CASE("an empty histogram writes every bucket, +Inf, _sum and _count at 0") {
    Metrics out;
    Histogram h;
    out.histogram("x_seconds", "Help.", h);
    const std::string& text = out.text();
    CHECK(text.find("# HELP x_seconds Help.\n# TYPE x_seconds histogram\n") == 0);
    CHECK(text.find("x_seconds_bucket{le=\"0.0005\"} 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_bucket{le=\"10\"} 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_bucket{le=\"+Inf\"} 0\n") != std::string::npos);
    CHECK(occurrences(text, "x_seconds_bucket{") == Histogram::kBounds.size() + 1);
    CHECK(text.find("x_seconds_sum 0\n") != std::string::npos);
    CHECK(text.find("x_seconds_count 0\n") != std::string::npos);
}

TEST_CASE("histogram buckets are cumulative up to +Inf, which equals _count; _sum is in seconds") {
    Histogram h;
    h.observe(200us);
    h.observe(1ms);
    h.observe(30ms);
    h.observe(20s);
    h.observe(-5ms);
    Metrics out;
    out.histogram("lat", "h", h);
    const std::string& text = out.text();
    CHECK(text.find("lat_bucket{le=\"0.0005\"} 2\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"0.001\"} 3\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"0.0025\"} 3\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"0.025\"} 3\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"0.05\"} 4\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"2.5\"} 4\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"10\"} 4\n") != std::string::npos);
    CHECK(text.find("lat_bucket{le=\"+Inf\"} 5\n") != std::string::npos);
    CHECK(text.find("lat_sum 20.0312\n") != std::string::npos);
    CHECK(text.find("lat_count 5\n") != std::string::npos);
    // The buckets come in rising order of le and never fall.
    CHECK(text.find("le=\"0.0005\"") < text.find("le=\"0.001\""));
    CHECK(text.find("le=\"10\"") < text.find("le=\"+Inf\""));
    CHECK(text.find("le=\"+Inf\"") < text.find("lat_sum"));
}

TEST_CASE("a histogram's labels go on every bucket (before le), _sum and _count") {
    Histogram a;
    Histogram b;
    a.observe(1ms);
    Metrics out;
    out.histogram("req_seconds", "h", a, {{"route", "a\"b"}});
    out.histogram("req_seconds", "h", b, {{"route", "c"}});
    const std::string& text = out.text();
    CHECK(occurrences(text, "# TYPE req_seconds histogram\n") == 1);
    CHECK(text.find("req_seconds_bucket{route=\"a\\\"b\",le=\"0.001\"} 1\n") != std::string::npos);
    CHECK(text.find("req_seconds_sum{route=\"a\\\"b\"} 0.001\n") != std::string::npos);
    CHECK(text.find("req_seconds_count{route=\"a\\\"b\"} 1\n") != std::string::npos);
    CHECK(text.find("req_seconds_bucket{route=\"c\",le=\"+Inf\"} 0\n") != std::string::npos);
    CHECK(text.find("req_seconds_count{route=\"c\"} 0\n") != std::string::npos);
}
