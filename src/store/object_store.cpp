#include "store/object_store.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <exception>
#include <mutex>
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

bool ObjectStore::has_object(const std::string& sha) const {
  struct stat st {};
  return ::stat(object_path(sha).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

fs::path ObjectStore::manifest_path(const std::string& sha) const { return root_ / manifest_key(sha); }

std::string ObjectStore::location(const std::string& sha) const {
  return has_object(sha) ? "object " + object_path(sha).string() : "manifest " + manifest_path(sha).string();
}

bool ObjectStore::contains(const std::string& sha) const {
  if (has_object(sha)) return true;
  struct stat st {};
  return ::stat(manifest_path(sha).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::optional<Manifest> ObjectStore::manifest(const std::string& sha) const {
  fs::path p = manifest_path(sha);
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT || errno == ENOTDIR) return std::nullopt;
    throw Error(Exit::failure, util::errno_message(p, "cannot open"));
  }
  util::Fd in(fd);
  std::string text;
  char buf[65536];
  for (;;) {
    std::size_t n = util::read_some(in, buf, sizeof buf, p);
    if (n == 0) break;
    text.append(buf, n);
  }
  return parse_manifest(text, sha, sha + " (" + p.string() + ")");
}

std::optional<std::uint64_t> ObjectStore::file_size(const std::string& sha) const {
  struct stat st {};
  if (::stat(object_path(sha).c_str(), &st) == 0 && S_ISREG(st.st_mode)) return static_cast<std::uint64_t>(st.st_size);
  if (auto m = manifest(sha)) return m->size;
  return std::nullopt;
}

bool ObjectStore::complete(const std::string& sha) const {
  if (has_object(sha)) return true;
  try {
    auto m = manifest(sha);
    return m && missing_segments(*m).empty();
  } catch (const Error& e) {
    if (e.code() != Exit::integrity) throw;  // e.g. a newer manifest format: exit 3
    return false;                            // a damaged manifest: fetch it again
  }
}

std::vector<Segment> ObjectStore::missing_segments(const Manifest& m) const {
  std::vector<Segment> out;
  for (const Segment& g : m.segments)
    if (!has_object(g.sha256)) out.push_back(g);
  return out;
}

ObjectStore::Stored ObjectStore::put_file(const fs::path& src, const Progress& progress) {
  util::Fd in = util::open_read(src);
  struct stat before {};
  if (::fstat(in.get(), &before) != 0) throw Error(Exit::failure, util::errno_message(src, "stat failed"));
  if (!S_ISREG(before.st_mode)) throw Error(Exit::failure, src.string() + ": not a regular file");
  ::posix_fadvise(in.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  if (splitter_.cuts) {
    std::vector<std::uint64_t> cuts = splitter_.cuts(src, static_cast<std::uint64_t>(before.st_size));
    if (cuts.size() >= 2) return put_split(src, in, before, std::move(cuts), progress);
  }

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
  if (!out.existed) out.written = total;
  return out;
}

namespace {

/// The 64-hex names of the files in a fan-out tree `dir/ab/cdef...` (objects, manifests), unsorted.
std::vector<std::string> list_sha_tree(const fs::path& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& d : fs::directory_iterator(dir, ec)) {
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

/// Copies `len` bytes of `in` from offset `off` to the current end of `out` (copy_file_range in
/// the kernel; read/write where it cannot).
void copy_range(const util::Fd& in, std::uint64_t off, std::uint64_t len, const util::Fd& out, const fs::path& in_path,
                const fs::path& out_path) {
  loff_t pos = static_cast<loff_t>(off);
  bool kernel = true;
  while (len > 0) {
    if (kernel) {
      ssize_t n = ::copy_file_range(in.get(), &pos, out.get(), nullptr, std::min<std::uint64_t>(len, 1u << 30), 0);
      if (n > 0) {
        len -= static_cast<std::uint64_t>(n);
        continue;
      }
      if (n == 0) throw Error(Exit::failure, in_path.string() + ": shorter than expected (changed while being read)");
      if (errno == EINTR) continue;
      if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP && errno != EBADF)
        throw Error(Exit::failure, util::errno_message(out_path, "write failed"));
      kernel = false;
    }
    std::vector<char> buf(std::min<std::uint64_t>(len, util::kStreamChunk));
    ssize_t n = ::pread(in.get(), buf.data(), buf.size(), pos);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Exit::failure, util::errno_message(in_path, "read failed"));
    if (n == 0) throw Error(Exit::failure, in_path.string() + ": shorter than expected (changed while being read)");
    util::write_all(out, buf.data(), static_cast<std::size_t>(n), out_path);
    pos += n;
    len -= static_cast<std::uint64_t>(n);
  }
}

/// SHA-256 of bytes [off, off + len) of `in` (pread, 4 MiB at a time); `progress` gets each chunk's size.
std::string hash_range(const util::Fd& in, std::uint64_t off, std::uint64_t len, const fs::path& path,
                       std::vector<char>& buf, const std::function<void(std::uint64_t)>& progress = {}) {
  util::Sha256 h;
  while (len > 0) {
    ssize_t n = ::pread(in.get(), buf.data(), std::min<std::uint64_t>(len, buf.size()), static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Exit::failure, util::errno_message(path, "read failed"));
    if (n == 0) throw Error(Exit::failure, path.string() + ": shorter than expected (changed while being read)");
    h.update(buf.data(), static_cast<std::size_t>(n));
    off += static_cast<std::uint64_t>(n);
    len -= static_cast<std::uint64_t>(n);
    if (progress) progress(static_cast<std::uint64_t>(n));
  }
  return h.hex_digest();
}

/// Process-wide list of rebuilt copies (ObjectStore::readable_path), removed at exit.
std::mutex g_views_mutex;
std::vector<std::string>* g_views = nullptr;
void remove_views() {
  std::lock_guard<std::mutex> l(g_views_mutex);
  if (g_views)
    for (auto& p : *g_views) ::unlink(p.c_str());
}

}  // namespace

ObjectStore::Stored ObjectStore::put_split(const fs::path& src, util::Fd& in, const struct stat& before,
                                           std::vector<std::uint64_t> cuts, const Progress& progress) {
  const auto size = static_cast<std::uint64_t>(before.st_size);
  Manifest m;
  m.size = size;
  for (std::size_t i = 0; i < cuts.size(); ++i) {
    std::uint64_t end = i + 1 < cuts.size() ? cuts[i + 1] : size;
    if (cuts[0] != 0 || end <= cuts[i] || end > size)
      throw Error(Exit::failure, src.string() + ": invalid segment boundaries");
    m.segments.push_back({"", end - cuts[i]});
  }
  const std::int64_t hashed_at = util::coarse_now_ns();
  fs::path tmpdir = root_ / "tmp";
  std::error_code ec;
  fs::create_directories(tmpdir, ec);
  if (ec) throw Error(Exit::failure, tmpdir.string() + ": cannot create: " + ec.message());
  // One pass over the bytes on two threads: this one the whole file's SHA-256 (the pointer's),
  // the other each segment's, both reading the same pages. A segment the store lacks is then
  // written by the second thread, reading it again (from the page cache) and hashing what it
  // writes: an object's name is the hash of exactly the bytes it holds.
  std::uint64_t written = 0;
  std::exception_ptr seg_error;
  std::thread seg_hasher([&] {
    try {
      util::Fd in2 = util::open_read(src);
      std::vector<char> buf(util::kStreamChunk);
      std::uint64_t off = 0;
      for (Segment& g : m.segments) {
        g.sha256 = hash_range(in2, off, g.size, src, buf);
        if (!has_object(g.sha256)) {
          util::TempFile tmp(tmpdir, "object");
          util::Sha256 h;
          std::uint64_t pos = off, left = g.size;
          while (left > 0) {
            ssize_t n =
                ::pread(in2.get(), buf.data(), std::min<std::uint64_t>(left, buf.size()), static_cast<off_t>(pos));
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) throw Error(Exit::failure, src.string() + ": changed while being read; nothing was stored");
            h.update(buf.data(), static_cast<std::size_t>(n));
            util::write_all(tmp.fd(), buf.data(), static_cast<std::size_t>(n), tmp.path());
            pos += static_cast<std::uint64_t>(n);
            left -= static_cast<std::uint64_t>(n);
          }
          if (h.hex_digest() != g.sha256)
            throw Error(Exit::failure, src.string() + ": changed while being read; nothing was stored");
          Stored seg;
          seg.sha256 = g.sha256;
          seg.size = g.size;
          install(tmp, seg);
          if (!seg.existed) written += g.size;
        }
        off += g.size;
      }
    } catch (...) {
      seg_error = std::current_exception();
    }
  });
  util::StreamResult r;
  try {
    std::vector<char> buf(util::kStreamChunk);
    std::function<void(std::uint64_t)> on_chunk = [&](std::uint64_t n) {
      r.size += n;
      if (progress) progress(r.size);
    };
    r.sha256 = hash_range(in, 0, size, src, buf, on_chunk);
  } catch (...) {
    seg_hasher.join();
    throw;
  }
  seg_hasher.join();
  if (seg_error) std::rethrow_exception(seg_error);
  auto changed = [&] {
    struct stat after {};
    if (::fstat(in.get(), &after) != 0) throw Error(Exit::failure, util::errno_message(src, "stat failed"));
    if (after.st_size != before.st_size || after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
        after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)
      throw Error(Exit::failure, src.string() + ": changed while being read (size was " +
                                     std::to_string(before.st_size) + "); nothing was stored");
  };
  m.file_sha256 = r.sha256;
  Stored out;
  out.sha256 = r.sha256;
  out.size = size;
  out.st = before;
  out.hashed_at_ns = hashed_at;
  out.segments = m.segments.size();
  out.written = written;
  if (contains(out.sha256)) {
    changed();
    out.existed = true;
    return out;
  }
  changed();
  put_manifest(m);
  return out;
}

void ObjectStore::put_manifest(const Manifest& m) {
  fs::path dest = manifest_path(m.file_sha256);
  if (contains(m.file_sha256)) return;
  // The one migration step of layout 1 to 2: nothing to convert (whole-file objects are part of
  // layout 2), only the version is raised, before the first manifest exists.
  {
    const std::string want = "mvc-cache-layout " + std::to_string(kLayoutManifests) + "\n";
    fs::path lf = root_ / "layout";
    std::string have;
    try {
      have = util::read_file(lf);
    } catch (const Error&) {
    }
    const std::string magic = "mvc-cache-layout ";
    if (have != want && (have.rfind(magic, 0) != 0 || std::atoi(have.c_str() + magic.size()) < kLayoutManifests))
      util::write_file_atomic(lf, want);
  }
  fs::path tmpdir = root_ / "tmp";
  std::error_code ec;
  fs::create_directories(tmpdir, ec);
  if (ec) throw Error(Exit::failure, tmpdir.string() + ": cannot create: " + ec.message());
  util::TempFile tmp(tmpdir, "manifest");
  std::string text = render_manifest(m);
  util::write_all(tmp.fd(), text.data(), text.size(), tmp.path());
  ::fchmod(tmp.fd().get(), util::with_umask(0444));
  fs::path tmp_path = tmp.release();
  fs::create_directories(dest.parent_path(), ec);
  if (ec) {
    ::unlink(tmp_path.c_str());
    throw Error(Exit::failure, dest.parent_path().string() + ": cannot create: " + ec.message());
  }
  if (::link(tmp_path.c_str(), dest.c_str()) != 0 && errno != EEXIST) {
    int err = errno;
    ::unlink(tmp_path.c_str());
    errno = err;
    throw Error(Exit::failure, util::errno_message(dest, "cannot store manifest"));
  }
  ::unlink(tmp_path.c_str());
  util::fsync_dir(dest.parent_path());
}

std::string ObjectStore::segment_name(const Manifest& m, std::size_t i) const {
  // The header segment holds the file's first bytes: the namer reads the tensors' offsets there.
  std::string what;
  if (splitter_.name)  // "the header" needs no read; the tensors' names need the header segment
    what = splitter_.name(object_path(m.segments[0].sha256), m.size, m.offset(i), m.offset(i) + m.segments[i].size);
  if (what.empty()) what = "segment " + std::to_string(i + 1) + " of " + std::to_string(m.segments.size());
  return what;
}

void ObjectStore::assemble(const Manifest& m, const util::TempFile& out, const Progress& progress) const {
  if (std::string why = missing_message(m); !why.empty()) throw Error(Exit::missing, why);
  // Copy in the kernel on one thread while this one hashes the segment objects in order.
  std::exception_ptr copy_error;
  std::thread copier([&] {
    try {
      for (const Segment& g : m.segments) {
        fs::path p = object_path(g.sha256);
        util::Fd src = util::open_read(p);
        copy_range(src, 0, g.size, out.fd(), p, out.path());
      }
    } catch (...) {
      copy_error = std::current_exception();
    }
  });
  std::string got;
  std::uint64_t total = 0;
  try {
    got = hash_segment_objects(m, progress, total);
  } catch (...) {
    copier.join();
    throw;
  }
  copier.join();
  if (copy_error) std::rethrow_exception(copy_error);
  if (got == m.file_sha256 && total == m.size) return;
  // Only now hash segment by segment, to name the bad one.
  std::vector<char> buf(util::kStreamChunk);
  for (std::size_t i = 0; i < m.segments.size(); ++i) {
    const Segment& g = m.segments[i];
    fs::path p = object_path(g.sha256);
    util::Fd in = open_object(g.sha256);
    struct stat st {};
    ::fstat(in.get(), &st);
    std::string seg = hash_range(in, 0, static_cast<std::uint64_t>(st.st_size), p, buf);
    if (seg != g.sha256 || static_cast<std::uint64_t>(st.st_size) != g.size)
      throw Error(Exit::integrity, "object " + m.file_sha256 + " is corrupt: " + segment_name(m, i) + " (object " +
                                       g.sha256 + ") holds " + std::to_string(st.st_size) + " bytes that hash to " +
                                       seg + " (" + p.string() + ")");
  }
  throw Error(Exit::integrity, "object " + m.file_sha256 + " is corrupt: its manifest rebuilds " +
                                   std::to_string(total) + " bytes that hash to " + got + " (" +
                                   manifest_path(m.file_sha256).string() + ")");
}

std::string ObjectStore::missing_message(const Manifest& m) const {
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < m.segments.size(); ++i)
    if (!has_object(m.segments[i].sha256)) missing.push_back(i);
  if (missing.empty()) return "";
  const std::size_t i = missing[0];
  return "object " + m.file_sha256 + ": " + segment_name(m, i) + " (object " + m.segments[i].sha256 + ", " +
         std::to_string(m.segments[i].size) + " bytes) is not in the cache" +
         (missing.size() > 1 ? " (nor " + std::to_string(missing.size() - 1) + " more of its objects)" : "");
}

std::string ObjectStore::missing_message(const std::string& sha) const {
  if (has_object(sha)) return "";
  try {
    if (auto m = manifest(sha)) return missing_message(*m);
  } catch (const Error& e) {
    if (e.code() != Exit::integrity) throw;
  }
  return "";
}

std::string ObjectStore::hash_segments(const Manifest& m, const Progress& progress) const {
  if (std::string why = missing_message(m); !why.empty()) throw Error(Exit::missing, why);
  std::uint64_t total = 0;
  return hash_segment_objects(m, progress, total);
}

std::string ObjectStore::hash_segment_objects(const Manifest& m, const Progress& progress, std::uint64_t& total) const {
  util::Sha256 h;
  std::vector<char> buf(util::kStreamChunk);
  for (const Segment& g : m.segments) {
    fs::path p = object_path(g.sha256);
    util::Fd in = open_object(g.sha256);
    for (;;) {
      std::size_t n = util::read_some(in, buf.data(), buf.size(), p);
      if (n == 0) break;
      h.update(buf.data(), n);
      total += n;
      if (progress) progress(total);
    }
  }
  return h.hex_digest();
}

fs::path ObjectStore::readable_path(const std::string& sha, const Progress& progress) {
  if (has_object(sha)) {
    verify(sha, progress);
    return object_path(sha);
  }
  auto m = manifest(sha);
  if (!m) open_object(sha);  // Exit::missing, the usual message
  fs::path tmpdir = root_ / "tmp";
  std::error_code ec;
  fs::create_directories(tmpdir, ec);
  if (ec) throw Error(Exit::failure, tmpdir.string() + ": cannot create: " + ec.message());
  util::TempFile tmp(tmpdir, "view");
  assemble(*m, tmp, progress);
  ::fchmod(tmp.fd().get(), util::with_umask(0444));
  fs::path p = tmp.release();
  std::lock_guard<std::mutex> l(g_views_mutex);
  if (!g_views) {
    g_views = new std::vector<std::string>();
    std::atexit(remove_views);
  }
  g_views->push_back(p.string());
  return p;
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

std::vector<std::string> ObjectStore::list_manifests() const { return list_sha_tree(root_ / "manifests" / "sha256"); }

void ObjectStore::remove_manifest(const std::string& sha) {
  fs::path p = manifest_path(sha);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT)
    throw Error(Exit::failure, util::errno_message(p, "cannot delete manifest"));
}

std::vector<std::string> list_objects_in(const fs::path& root) { return list_sha_tree(root / "objects" / "sha256"); }

void ObjectStore::remove(const std::string& sha) {
  fs::path p = object_path(sha);
  if (::unlink(p.c_str()) != 0 && errno != ENOENT)
    throw Error(Exit::failure, util::errno_message(p, "cannot delete object"));
}

fs::path ObjectStore::quarantine(const std::string& sha) { return move_to_quarantine(object_path(sha), sha + "."); }

fs::path ObjectStore::quarantine_manifest(const std::string& sha) {
  return move_to_quarantine(manifest_path(sha), sha + ".manifest.");
}

fs::path ObjectStore::move_to_quarantine(const fs::path& p, const std::string& prefix) {
  fs::path q = root_ / "quarantine";
  std::error_code ec;
  fs::create_directories(q, ec);
  if (ec) throw Error(Exit::failure, q.string() + ": cannot create: " + ec.message());
  fs::path dest = q / (prefix + util::random_hex(8));
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
  if (!has_object(sha)) {
    if (auto m = manifest(sha)) {
      util::TempFile tmp(dest_dir, stem);
      assemble(*m, tmp, progress);
      if (m->size != expected_size)  // the file is intact: what expected another size is wrong
        throw Error(Exit::model, "object " + sha + " is " + std::to_string(m->size) + " bytes and intact, not the " +
                                     std::to_string(expected_size) + " bytes expected (" + manifest_path(sha).string() +
                                     ")");
      return tmp;
    }
  }
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
  if (!has_object(sha))
    if (auto m = manifest(sha)) return hash_segments(*m, progress);
  util::Fd in = open_object(sha);
  return util::sha256_read(in, p, progress).sha256;
}

void ObjectStore::verify(const std::string& sha, const Progress& progress) const {
  fs::path p = object_path(sha);
  if (!has_object(sha)) {
    if (auto m = manifest(sha)) {
      if (hash_segments(*m, progress) == sha) return;
      // Name the bad segment: rebuild into a scratch copy (the path of errors) and let assemble judge.
      fs::path tmpdir = root_ / "tmp";
      std::error_code ec;
      fs::create_directories(tmpdir, ec);
      util::TempFile tmp(tmpdir, "verify");
      assemble(*m, tmp, {});
      return;
    }
  }
  util::Fd in = open_object(sha);
  util::StreamResult r = util::sha256_read(in, p, progress);
  // The same shape as the copy path's message (docs/conventions.md, "One resolver").
  if (r.sha256 != sha)
    throw Error(Exit::integrity, "object " + sha + " is corrupt: its " + std::to_string(r.size) + " bytes hash to " +
                                     r.sha256 + " (" + p.string() + ")");
}

}  // namespace mvc::store
