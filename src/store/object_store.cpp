#include "store/object_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <exception>
#include <thread>
#include <vector>

#include "mvc/error.h"
#include "util/sha256.h"
#include "util/stat_cache.h"

namespace mvc::store {

ObjectStore::ObjectStore(fs::path root) : root_(std::move(root)) {}

fs::path ObjectStore::object_path(const std::string& sha) const {
  if (!util::is_sha256_hex(sha)) throw Error(Exit::failure, "invalid object name '" + sha + "'");
  return root_ / "objects" / "sha256" / sha.substr(0, 2) / sha.substr(2);
}

bool ObjectStore::contains(const std::string& sha) const {
  struct stat st {};
  return ::stat(object_path(sha).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

ObjectStore::Stored ObjectStore::put_file(const fs::path& src, const Progress& progress) {
  util::Fd in = util::open_read(src);
  struct stat before {};
  if (::fstat(in.get(), &before) != 0) throw Error(Exit::failure, util::errno_message(src, "stat failed"));
  if (!S_ISREG(before.st_mode)) throw Error(Exit::failure, src.string() + ": not a regular file");
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);

  fs::path tmpdir = root_ / "tmp";
  std::error_code ec;
  fs::create_directories(tmpdir, ec);
  if (ec) throw Error(Exit::failure, tmpdir.string() + ": cannot create: " + ec.message());
  util::TempFile tmp(tmpdir, "object");

  const std::int64_t hashed_at = util::coarse_now_ns();
  util::StreamResult r;
  if (::ioctl(tmp.fd().get(), FICLONE, in.get()) == 0) {
    // Reflink (btrfs, XFS): the temp file shares the source's extents; hash the clone itself,
    // so the object's name is the hash of exactly the bytes it holds.
    r = util::sha256_stream(tmp.fd(), tmp.path(), nullptr, {}, progress);
  } else {
    // copy_file_range in the kernel on one thread, hashing the temp file behind it on this
    // one (the object's name is the hash of exactly the bytes it holds); read + hash + write
    // where the kernel cannot copy.
    r = util::copy_and_hash(in, src, tmp.fd(), tmp.path(), progress, /*sync_out=*/true);
  }
  const std::uint64_t total = r.size;
  struct stat after {};
  if (::fstat(in.get(), &after) != 0) throw Error(Exit::failure, util::errno_message(src, "stat failed"));
  if (total != static_cast<std::uint64_t>(before.st_size) || after.st_size != before.st_size ||
      after.st_mtim.tv_sec != before.st_mtim.tv_sec || after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)
    throw Error(Exit::failure, src.string() + ": changed while being read (read " + std::to_string(total) +
                                   " bytes, size was " + std::to_string(before.st_size) + "); nothing was stored");

  Stored out;
  out.sha256 = r.sha256;
  out.size = total;
  out.st = before;
  out.hashed_at_ns = hashed_at;
  install(tmp, out);
  return out;
}

void ObjectStore::install(util::TempFile& tmp, Stored& out) {
  fs::path dest = object_path(out.sha256);
  if (contains(out.sha256)) {
    out.existed = true;
    tmp.discard();
    return;
  }
  std::error_code ec;
  ::fchmod(tmp.fd().get(), util::with_umask(0444));  // read-only, as the umask allows
  fs::path tmp_path = tmp.release();                 // fsync + close; we own the path now
  fs::create_directories(dest.parent_path(), ec);
  if (ec) {
    ::unlink(tmp_path.c_str());
    throw Error(Exit::failure, dest.parent_path().string() + ": cannot create: " + ec.message());
  }
  if (::link(tmp_path.c_str(), dest.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp_path.c_str());
    if (err != EEXIST) {
      errno = err;
      throw Error(Exit::failure, util::errno_message(dest, "cannot store object"));
    }
    out.existed = true;  // another writer stored the same bytes
    return;
  }
  ::unlink(tmp_path.c_str());
  util::fsync_dir(dest.parent_path());
}

ObjectStore::Stored ObjectStore::put_verified(const std::string& sha, const Fill& fill, const std::string& source) {
  fs::path dest = object_path(sha);  // validates the name
  Stored out;
  out.sha256 = sha;
  if (contains(sha)) {
    out.existed = true;
    return out;
  }
  fs::path tmpdir = root_ / "tmp";
  std::error_code ec;
  fs::create_directories(tmpdir, ec);
  if (ec) throw Error(Exit::failure, tmpdir.string() + ": cannot create: " + ec.message());
  util::TempFile tmp(tmpdir, "fetch");
  auto h = std::make_unique<util::Sha256>();
  std::uint64_t total = 0;
  auto sink = [&](const char* data, std::size_t n) {
    h->update(data, n);
    util::write_all(tmp.fd(), data, n, tmp.path());
    total += n;
  };
  auto restart = [&] {
    h = std::make_unique<util::Sha256>();
    total = 0;
    if (::ftruncate(tmp.fd().get(), 0) != 0 || ::lseek(tmp.fd().get(), 0, SEEK_SET) != 0)
      throw Error(Exit::failure, util::errno_message(tmp.path(), "cannot truncate"));
  };
  fill(sink, restart);
  std::string got = h->hex_digest();
  if (got != sha)
    throw Error(Exit::integrity, "object " + sha + " from " + source + " is corrupt: its " + std::to_string(total) +
                                     " bytes hash to " + got + "; it was not stored");
  out.size = total;
  install(tmp, out);
  return out;
}

std::vector<std::string> ObjectStore::list() const { return list_objects_in(root_); }

std::vector<std::string> list_objects_in(const fs::path& root) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& d : fs::directory_iterator(root / "objects" / "sha256", ec)) {
    std::string pfx = d.path().filename().string();
    if (pfx.size() != 2) continue;
    std::error_code ec2;
    for (auto& f : fs::directory_iterator(d.path(), ec2)) {
      std::string name = pfx + f.path().filename().string();
      if (util::is_sha256_hex(name)) out.push_back(name);
    }
  }
  return out;
}

void ObjectStore::remove(const std::string& sha) {
  fs::path p = object_path(sha);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT)
    throw Error(Exit::failure, util::errno_message(p, "cannot delete object"));
}

fs::path ObjectStore::quarantine(const std::string& sha) {
  fs::path p = object_path(sha);
  fs::path q = root_ / "quarantine";
  std::error_code ec;
  fs::create_directories(q, ec);
  if (ec) throw Error(Exit::failure, q.string() + ": cannot create: " + ec.message());
  fs::path dest = q / (sha + "." + util::random_hex(8));
  if (::rename(p.c_str(), dest.c_str()) != 0)
    throw Error(Exit::failure, util::errno_message(p, "cannot move to quarantine"));
  return dest;
}

util::Fd ObjectStore::open_object(const std::string& sha) const {
  fs::path p = object_path(sha);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) throw Error(Exit::missing, "object " + sha + " is not in the cache (" + p.string() + ")");
    throw Error(Exit::failure, util::errno_message(p, "cannot open"));
  }
  return util::Fd(fd);
}

util::TempFile ObjectStore::copy_out_verified(const std::string& sha, std::uint64_t expected_size,
                                              const fs::path& dest_dir, const std::string& stem,
                                              const Progress& progress) const {
  fs::path p = object_path(sha);
  util::Fd in = open_object(sha);
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  util::TempFile tmp(dest_dir, stem);
  // The copy (reflink, else copy_file_range in the kernel) runs on one thread while this one
  // hashes the object; the temp file is renamed into place only if the hash matches.
  std::exception_ptr copy_error;
  std::thread copier([&] {
    try {
      util::Fd src = util::open_read(p);
      util::copy_fd(src, tmp.fd(), p, tmp.path());
    } catch (...) {
      copy_error = std::current_exception();
    }
  });
  util::StreamResult r;
  try {
    r = util::sha256_read(in, p, progress);
  } catch (...) {
    copier.join();
    throw;
  }
  copier.join();
  if (copy_error) std::rethrow_exception(copy_error);
  const std::uint64_t total = r.size;
  struct stat copied {};
  if (::fstat(tmp.fd().get(), &copied) != 0 || static_cast<std::uint64_t>(copied.st_size) != total)
    throw Error(Exit::failure, tmp.path().string() + ": copy of object " + sha + " is incomplete");
  const std::string& got = r.sha256;
  if (got != sha)
    throw Error(Exit::integrity, "object " + sha + " is corrupt: its " + std::to_string(total) + " bytes hash to " +
                                     got + " (" + p.string() + ")");
  if (total != expected_size)  // the object is intact: what expected another size is wrong
    throw Error(Exit::model, "object " + sha + " is " + std::to_string(total) + " bytes and intact, not the " +
                                 std::to_string(expected_size) + " bytes expected (" + p.string() + ")");
  return tmp;
}

std::string ObjectStore::rehash(const std::string& sha, const Progress& progress) const {
  fs::path p = object_path(sha);
  util::Fd in = open_object(sha);
  return util::sha256_read(in, p, progress).sha256;
}

void ObjectStore::verify(const std::string& sha, const Progress& progress) const {
  fs::path p = object_path(sha);
  util::Fd in = open_object(sha);
  util::StreamResult r = util::sha256_read(in, p, progress);
  // The same shape as the copy path's message (docs/conventions.md, "One resolver").
  if (r.sha256 != sha)
    throw Error(Exit::integrity, "object " + sha + " is corrupt: its " + std::to_string(r.size) + " bytes hash to " +
                                     r.sha256 + " (" + p.string() + ")");
}

}  // namespace mvc::store
