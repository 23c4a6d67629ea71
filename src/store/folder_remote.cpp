// A folder remote: the cache layout on a (shared or network) disk. URLs: a path (relative to
// RemoteSpec::base_dir) or file://PATH. No configuration keys.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <vector>

#include "mvc/error.h"
#include "store/manifest.h"
#include "store/object_store.h"
#include "store/remote_registry.h"
#include "util/fs.h"
#include "util/lock.h"
#include "util/sha256.h"

namespace mvc::store {

namespace {

class FolderRemote : public Remote {
 public:
  FolderRemote(std::string name, std::string url, fs::path root)
      : name_(std::move(name)), url_(std::move(url)), root_(std::move(root)) {}

  std::string describe() const override { return name_ + " (" + url_ + ")"; }

  std::optional<std::uint64_t> stat(const std::string& sha) override {
    struct stat st {};
    if (::stat(path(sha).c_str(), &st) == 0 && S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
    return std::nullopt;
  }

  void put(const std::string& sha, const fs::path& src, std::uint64_t size) override {
    put_reporting(sha, src, size, {});
  }

  void put_reporting(const std::string& sha, const fs::path& src, std::uint64_t size, const Sent& sent) override {
    fs::path dest = path(sha);
    fs::path tmpdir = root_ / "tmp";
    std::error_code ec;
    fs::create_directories(tmpdir, ec);
    if (ec)
      throw Error(Exit::failure, "remote " + describe() + ": " + tmpdir.string() + ": cannot create: " + ec.message());
    util::Fd in = util::open_read(src);
    util::TempFile tmp(tmpdir, sha.substr(0, 16));  // its name says who writes it, for reclaim()
    util::Sha256 h;
    std::vector<char> buf(util::kIoBufferSize);
    std::uint64_t total = 0;
    for (;;) {
      std::size_t n = util::read_some(in, buf.data(), buf.size(), src);
      if (n == 0) break;
      h.update(buf.data(), n);
      util::write_all(tmp.fd(), buf.data(), n, tmp.path());
      total += n;
      if (sent) sent(total);
    }
    std::string got = h.hex_digest();
    if (got != sha || total != size)
      throw Error(Exit::integrity, "object " + sha + " is corrupt: its " + std::to_string(total) + " bytes hash to " +
                                       got + " (" + src.string() + "); nothing was pushed");
    ::fchmod(tmp.fd().get(), util::with_umask(0444));
    fs::create_directories(dest.parent_path(), ec);
    if (ec)
      throw Error(Exit::failure,
                  "remote " + describe() + ": " + dest.parent_path().string() + ": cannot create: " + ec.message());
    tmp.commit_to(dest);  // fsync, rename, fsync dir: visible only when complete
  }

  void get(const std::string& sha, const Sink& sink, const std::function<void()>&) override {
    fs::path p = path(sha);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT) throw Error(Exit::missing, "object " + sha + " is not on remote " + describe());
      throw Error(Exit::failure, "remote " + describe() + ": " + util::errno_message(p, "cannot open"));
    }
    util::Fd in(fd);
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    std::vector<char> buf(util::kIoBufferSize);
    for (;;) {
      std::size_t n = util::read_some(in, buf.data(), buf.size(), p);
      if (n == 0) break;
      sink(buf.data(), n);
    }
  }

  std::vector<std::string> list() override { return list_objects_in(root_); }

  std::optional<std::string> get_manifest(const std::string& sha) override { return get_key(manifest_key(sha)); }

  void put_manifest(const std::string& sha, const std::string& text) override { put_key(manifest_key(sha), text); }

  std::vector<RemoteEntry> list_entries(const std::string& prefix) override {
    std::vector<RemoteEntry> out;
    // The directory holding the prefix's keys, and what their names must start with there.
    auto slash = prefix.rfind('/');
    fs::path dir = root_ / (slash == std::string::npos ? "" : prefix.substr(0, slash));
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) return out;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string key = it->path().lexically_relative(root_).generic_string();
      if (key.rfind(prefix, 0) != 0 || key.find(util::kTempMarker) != std::string::npos) continue;
      struct stat st {};
      if (::lstat(it->path().c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
      auto t =
          std::chrono::system_clock::from_time_t(st.st_mtim.tv_sec) +
          std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(st.st_mtim.tv_nsec));
      out.push_back({key, static_cast<std::uint64_t>(st.st_size), t});
    }
    if (ec && ec != std::errc::no_such_file_or_directory)
      throw Error(Exit::failure, "remote " + describe() + ": cannot list " + dir.string() + ": " + ec.message());
    return out;
  }

  std::optional<std::string> get_key(const std::string& key) override {
    check_key(key);
    fs::path p = root_ / key;
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
      throw Error(Exit::failure, "remote " + describe() + ": " + util::errno_message(p, "cannot open"));
    }
    util::Fd in(fd);
    std::string text;
    std::vector<char> buf(65536);
    for (;;) {
      std::size_t n = util::read_some(in, buf.data(), buf.size(), p);
      if (n == 0) break;
      text.append(buf.data(), n);
    }
    return text;
  }

  void put_key(const std::string& key, const std::string& text) override {
    check_key(key);
    fs::path dest = root_ / key;
    fs::path tmpdir = root_ / "tmp";
    std::error_code ec;
    fs::create_directories(tmpdir, ec);
    if (!ec) fs::create_directories(dest.parent_path(), ec);
    if (ec) throw Error(Exit::failure, "remote " + describe() + ": cannot create directories: " + ec.message());
    util::TempFile tmp(tmpdir, dest.filename().string().substr(0, 16));
    util::write_all(tmp.fd(), text.data(), text.size(), tmp.path());
    ::fchmod(tmp.fd().get(), util::with_umask(0444));
    tmp.commit_to(dest);
  }

  void remove_key(const std::string& key) override {
    check_key(key);
    fs::path p = root_ / key;
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
      throw Error(Exit::failure, "remote " + describe() + ": " + util::errno_message(p, "cannot remove"));
  }

  void remove(const std::string& sha) override {
    fs::path p = path(sha);
    if (::unlink(p.c_str()) != 0 && errno != ENOENT)
      throw Error(Exit::failure, "remote " + describe() + ": " + util::errno_message(p, "cannot remove"));
  }

  std::size_t reclaim(std::chrono::seconds grace) override {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_ / "tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      if (util::stale_temp(it->path(), grace) && ::unlink(it->path().c_str()) == 0) ++n;
    return n;
  }

 private:
  fs::path path(const std::string& sha) const { return root_ / object_key(sha); }
  std::string name_, url_;
  fs::path root_;
};

std::string check_folder_url(const std::string& url) {
  if (url == "file://") return "no path: file://PATH";
  return {};
}

std::unique_ptr<Remote> open_folder(const RemoteSpec& spec) {
  if (spec.url.rfind("file://", 0) == 0)
    return std::make_unique<FolderRemote>(spec.name, spec.url, fs::path(spec.url.substr(7)));
  fs::path p(spec.url);
  if (p.is_relative() && !spec.base_dir.empty()) p = (spec.base_dir / p).lexically_normal();
  return std::make_unique<FolderRemote>(spec.name, p.string(), p);
}

}  // namespace

const RemoteBackend& folder_backend() {
  static const RemoteBackend b{"folder", {"", "file"}, "a path, file://PATH", {}, check_folder_url, open_folder};
  return b;
}

}  // namespace mvc::store
