#include "app/StaticFiles.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

namespace partyline {
namespace fs = std::filesystem;

namespace {

bool endsWith(std::string_view text, std::string_view suffix) {
    if (text.size() < suffix.size()) return false;
    for (size_t i = 0; i < suffix.size(); ++i) {
        char c = text[text.size() - suffix.size() + i];
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        if (c != suffix[i]) return false;
    }
    return true;
}

// The real path of `path`, or empty when it does not exist.
std::string realPath(const fs::path& path) {
    std::error_code ec;
    fs::path real = fs::canonical(path, ec);
    return ec ? std::string() : real.string();
}

bool inside(const std::string& real, const std::string& folder) {
    return real == folder || (real.size() > folder.size() && real.compare(0, folder.size(), folder) == 0 &&
                              real[folder.size()] == '/');
}

}  // namespace

bool StaticFiles::mount(std::string prefix, const std::string& folder) {
    std::string real = realPath(folder);
    std::error_code ec;
    if (real.empty() || !fs::is_directory(real, ec)) return false;
    if (prefix.empty() || prefix.front() != '/') prefix.insert(prefix.begin(), '/');
    if (prefix.back() != '/') prefix.push_back('/');
    mounts_.push_back({std::move(prefix), std::move(real)});
    std::stable_sort(mounts_.begin(), mounts_.end(),
                     [](const Mount& a, const Mount& b) { return a.prefix.size() > b.prefix.size(); });
    return true;
}

void StaticFiles::mountExamples(const std::string& examplesFolder) {
    std::error_code ec;
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(examplesFolder, ec)) {
        if (entry.is_directory(ec) && fs::is_directory(entry.path() / "public", ec)) {
            names.push_back(entry.path().filename().string());
        }
    }
    std::sort(names.begin(), names.end());
    for (const auto& name : names)
        mount("/" + name + "/", (fs::path(examplesFolder) / name / "public").string());
}

bool StaticFiles::hasRoot() const {
    return std::any_of(mounts_.begin(), mounts_.end(), [](const Mount& m) { return m.prefix == "/"; });
}

bool StaticFiles::forbidden(std::string_view relativePath) {
    if (relativePath.find('\0') != std::string_view::npos ||
        relativePath.find('\\') != std::string_view::npos) {
        return true;
    }
    size_t start = 0;
    while (start <= relativePath.size()) {
        size_t end = std::min(relativePath.find('/', start), relativePath.size());
        std::string_view segment = relativePath.substr(start, end - start);
        if (!segment.empty() && segment.front() == '.') return true;
        start = end + 1;
    }
    return endsWith(relativePath, ".lua") || endsWith(relativePath, ".yaml") ||
           endsWith(relativePath, ".yml");
}

StaticFiles::Resolved StaticFiles::resolve(std::string_view uriPath) const {
    if (uriPath.empty() || uriPath.front() != '/') return {};
    for (const auto& mount : mounts_) {
        // "/chat" without its slash is the mount's folder too: it redirects to "/chat/".
        std::string_view bare = std::string_view(mount.prefix).substr(0, mount.prefix.size() - 1);
        if (uriPath == bare && !bare.empty()) return {Resolved::Kind::Redirect, mount.prefix};
        if (uriPath.substr(0, mount.prefix.size()) == mount.prefix) {
            return resolveIn(mount, uriPath.substr(mount.prefix.size()), uriPath);
        }
    }
    return {};
}

StaticFiles::Resolved StaticFiles::resolveIn(const Mount& mount, std::string_view rest,
                                             std::string_view uriPath) const {
    if (forbidden(rest)) return {};
    std::error_code ec;
    fs::path candidate = fs::path(mount.folder) / std::string(rest);
    if (fs::is_directory(candidate, ec)) {
        if (!rest.empty() && rest.back() != '/')
            return {Resolved::Kind::Redirect, std::string(uriPath) + "/"};
        candidate /= "index.html";
    }
    std::string real = realPath(candidate);
    // Symlinks are followed, and then the file must still be inside the mount, and a plain file.
    if (real.empty() || !inside(real, mount.folder) || !fs::is_regular_file(real, ec)) return {};
    if (forbidden(real.substr(mount.folder.size()))) return {};  // a link named x.html to room.lua
    return {Resolved::Kind::File, real};
}

}  // namespace partyline
