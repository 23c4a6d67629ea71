// A folder remote: the cache layout on a (shared or network) disk.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "mvc/error.h"
#include "store/object_store.h"
#include "store/remote.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::store {

std::unique_ptr<Remote> open_s3_remote(const RemoteSpec& spec);  // s3_remote.cpp

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
    fs::path dest = path(sha);
    fs::path tmpdir = root_ / "tmp";
    std::error_code ec;
    fs::create_directories(tmpdir, ec);
    if (ec) throw Error(Exit::failure, "remote " + describe() + ": " + tmpdir.string() + ": cannot create: " + ec.message());
    util::Fd in = util::open_read(src);
    util::TempFile tmp(tmpdir, sha.substr(0, 16));
    util::Sha256 h;
    std::vector<char> buf(util::kIoBufferSize);
    std::uint64_t total = 0;
    for (;;) {
      std::size_t n = util::read_some(in, buf.data(), buf.size(), src);
      if (n == 0) break;
      h.update(buf.data(), n);
      util::write_all(tmp.fd(), buf.data(), n, tmp.path());
      total += n;
    }
    std::string got = h.hex_digest();
    if (got != sha || total != size)
      throw Error(Exit::integrity, "object " + sha + " is corrupt: its " + std::to_string(total) + " bytes hash to " + got +
                                       " (" + src.string() + "); nothing was pushed");
    ::fchmod(tmp.fd().get(), 0444);
    fs::create_directories(dest.parent_path(), ec);
    if (ec) throw Error(Exit::failure, "remote " + describe() + ": " + dest.parent_path().string() + ": cannot create: " + ec.message());
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

 private:
  fs::path path(const std::string& sha) const { return root_ / object_key(sha); }
  std::string name_, url_;
  fs::path root_;
};

}  // namespace

std::string object_key(const std::string& sha) {
  if (!util::is_sha256_hex(sha)) throw Error(Exit::failure, "invalid object name '" + sha + "'");
  return "objects/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2);
}

std::unique_ptr<Remote> open_remote(const RemoteSpec& spec) {
  const std::string& url = spec.url;
  if (url.rfind("s3://", 0) == 0) return open_s3_remote(spec);
  if (url.rfind("file://", 0) == 0) return std::make_unique<FolderRemote>(spec.name, url, fs::path(url.substr(7)));
  if (url.find("://") != std::string::npos)
    throw Error(Exit::usage, "remote " + spec.name + ": unsupported URL '" + url + "' (a path, file://PATH or s3://BUCKET[/PREFIX])");
  return std::make_unique<FolderRemote>(spec.name, url, fs::path(url));
}

}  // namespace mvc::store
