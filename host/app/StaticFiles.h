// StaticFiles: the pages a node serves beside its rooms, from folders mounted at URL prefixes
// (by default each example's public/ folder at /<example>/; `--static DIR` mounts DIR at /).
//
// It only resolves a request path to a file, and decides what is never served: it runs nothing
// (CivetWeb's document_root stays unset, so no CGI, no SSI, no directory listing), and it
// refuses any path with a segment starting with '.' (dotfiles, "..", "."), room scripts and
// configurations (*.lua, *.yaml, *.yml), and any file whose real path, symlinks followed, lies
// outside its mount's real folder. Sending the file is the HTTP layer's (mg_send_mime_file).
// Mounts are read once at start; files are looked up on each request.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace partyline {

class StaticFiles {
   public:
    struct Mount {
        std::string prefix;  // "/" or "/name/"
        std::string folder;  // its real path, resolved at start
    };
    struct Resolved {
        enum class Kind { File, Redirect, NotFound } kind = Kind::NotFound;
        std::string path;  // File: the real path to send; Redirect: the URL path to go to (a '/' added)
    };

    StaticFiles() = default;
    // Mounts `folder` at `prefix` ("/" or "/name/"); false when the folder does not exist.
    bool mount(std::string prefix, const std::string& folder);
    // Every <examples>/<name>/public folder at /<name>/.
    void mountExamples(const std::string& examplesFolder);

    bool empty() const { return mounts_.empty(); }
    const std::vector<Mount>& mounts() const { return mounts_; }
    // True when something is mounted at "/".
    bool hasRoot() const;

    // `uriPath`: the request's decoded path, without the query.
    Resolved resolve(std::string_view uriPath) const;

    // A path this class never serves, whatever is on disk.
    static bool forbidden(std::string_view relativePath);

   private:
    Resolved resolveIn(const Mount& mount, std::string_view rest, std::string_view uriPath) const;

    std::vector<Mount> mounts_;  // longest prefix first
};

}  // namespace partyline
