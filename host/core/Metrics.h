// Metrics: the Prometheus text format (version 0.0.4) of one scrape, written sample by sample.
//
// Each owner of counts (Node, HttpServer, the shards' context, the Sender, the Reactor, ...)
// declares its metrics in one function that takes a Metrics& and writes one line per metric:
//     out.counter("partyline_publishes_total", "Writes published by room scripts.", publishes.load());
// The writer adds `# HELP` and `# TYPE` once per family, escapes label values and help text, and
// writes histograms as cumulative buckets up to +Inf, `_sum` and `_count`. Consecutive calls with
// the same name (and other labels) are samples of one family:
//     out.counter("partyline_fetch_total", "Fetches by outcome.", ok, {{"status", "ok"}});
//     out.counter("partyline_fetch_total", "Fetches by outcome.", failed, {{"status", "error"}});
// Must not: hold or own a count, or lock; it formats what it is given, on the scraping thread.
#pragma once

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>
#include <unordered_set>

#include "core/Histogram.h"

namespace partyline {

// A label of a sample. The name is a Prometheus label name (not `le`, which histograms write);
// the value is any text and is escaped.
struct MetricLabel {
    std::string_view name;
    std::string_view value;
};
using MetricLabels = std::initializer_list<MetricLabel>;

class Metrics {
   public:
    template <typename T>
    requires std::is_arithmetic_v<T>
    void counter(std::string_view name, std::string_view help, T value, MetricLabels labels = {}) {
        sample(name, "counter", help, labels, format(value));
    }
    template <typename T>
    requires std::is_arithmetic_v<T>
    void gauge(std::string_view name, std::string_view help, T value, MetricLabels labels = {}) {
        sample(name, "gauge", help, labels, format(value));
    }
    void histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                   MetricLabels labels = {});

    // The text so far: what /metrics answers.
    const std::string& text() const { return out_; }

    // Label values: backslash, double quote and line feed escaped. Help text: backslash and line
    // feed escaped.
    static std::string escapeLabelValue(std::string_view value);
    static std::string escapeHelp(std::string_view help);

   private:
    template <typename T>
    static std::string format(T value) {
        if constexpr (std::is_floating_point_v<T>)
            return formatDouble(double(value));
        else if constexpr (std::is_signed_v<T>)
            return std::to_string(int64_t(value));
        else
            return std::to_string(uint64_t(value));
    }
    static std::string formatDouble(double value);
    // Starts family `name` unless the previous sample was of it.
    void family(std::string_view name, std::string_view type, std::string_view help);
    void sample(std::string_view name, std::string_view type, std::string_view help, MetricLabels labels,
                const std::string& value);
    void writeSample(std::string_view name, MetricLabels labels, std::string_view le,
                     const std::string& value);

    std::string out_;
    std::string current_;  // the family of the previous sample
    std::string currentType_;
    std::unordered_set<std::string> written_;  // every family so far: a name comes in one run only
};

}  // namespace partyline
