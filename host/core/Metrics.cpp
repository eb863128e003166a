#include "core/Metrics.h"

#include <cassert>
#include <charconv>
#include <cmath>
#include <cstdio>

namespace partyline {

namespace {

[[maybe_unused]] bool validName(std::string_view name, bool colons) {
    if (name.empty()) return false;
    for (size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colons && c == ':');
        if (!letter && !(i > 0 && c >= '0' && c <= '9')) return false;
    }
    return true;
}

}  // namespace

std::string Metrics::escapeLabelValue(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (char c : value) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

std::string Metrics::escapeHelp(std::string_view help) {
    std::string out;
    out.reserve(help.size());
    for (char c : help) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

// The shortest text that reads back as the same double; Prometheus spells the specials so.
std::string Metrics::formatDouble(double value) {
    if (std::isnan(value)) return "NaN";
    if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
    char text[32];
    auto end = std::to_chars(text, text + sizeof text, value).ptr;
    return std::string(text, end);
}

void Metrics::family(std::string_view name, std::string_view type, std::string_view help) {
    if (name == current_) {
        assert(type == currentType_ && "one metric name, one type");
        return;
    }
    assert(validName(name, true) && "a Prometheus metric name");
    bool first = written_.emplace(name).second;
    assert(first && "the samples of a metric come together");
    (void)first;
    current_ = name;
    currentType_ = type;
    out_.append("# HELP ").append(name).append(" ").append(escapeHelp(help));
    out_.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void Metrics::writeSample(std::string_view name, MetricLabels labels, std::string_view le,
                          const std::string& value) {
    out_.append(name);
    if (labels.size() > 0 || !le.empty()) {
        char separator = '{';
        for (const auto& label : labels) {
            assert(validName(label.name, false) && label.name != "le" && "a Prometheus label name");
            out_.append(1, separator).append(label.name).append("=\"").append(escapeLabelValue(label.value));
            out_.append("\"");
            separator = ',';
        }
        if (!le.empty()) out_.append(1, separator).append("le=\"").append(le).append("\"");
        out_.append("}");
    }
    out_.append(" ").append(value).append("\n");
}

void Metrics::sample(std::string_view name, std::string_view type, std::string_view help, MetricLabels labels,
                     const std::string& value) {
    family(name, type, help);
    writeSample(name, labels, {}, value);
}

void Metrics::histogram(std::string_view name, std::string_view help, const Histogram& histogram,
                        MetricLabels labels) {
    family(name, "histogram", help);
    Histogram::Snapshot snapshot = histogram.snapshot();
    std::string base(name);
    char le[32];
    for (size_t i = 0; i < snapshot.cumulative.size(); ++i) {
        if (i < Histogram::kBounds.size())
            std::snprintf(le, sizeof le, "%g", Histogram::kBounds[i]);
        else
            std::snprintf(le, sizeof le, "+Inf");
        writeSample(base + "_bucket", labels, le, std::to_string(snapshot.cumulative[i]));
    }
    char sum[32];
    std::snprintf(sum, sizeof sum, "%.9g", snapshot.sumSeconds);
    writeSample(base + "_sum", labels, {}, sum);
    writeSample(base + "_count", labels, {}, std::to_string(snapshot.count));
}

}  // namespace partyline
