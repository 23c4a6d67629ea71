#include "store/stored_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "mvc/error.h"
#include "store/object_store.h"
#include "util/fs.h"

namespace mvc::store {

namespace fs = std::filesystem;

struct StoredFile::Impl {
  const ObjectStore* store = nullptr;
  std::string sha;
  fs::path path;  // whole object or plain file
  std::optional<Manifest> manifest;
  std::uint64_t size = 0;
  std::vector<std::uint64_t> offsets;  // of each object in the file, then the size
  struct Obj {
    util::Fd fd;
    const char* map = nullptr;
    std::size_t map_size = 0;
  };
  mutable std::vector<Obj> objs;

  ~Impl() {
    for (auto& o : objs)
      if (o.map) ::munmap(const_cast<char*>(o.map), o.map_size);
  }

  std::string prefix(const std::string& label) const { return label.empty() ? "" : label + ": "; }

  fs::path object_file(std::size_t i) const {
    return manifest ? store->object_path(manifest->segments[i].sha256) : path;
  }

  // The index of the object holding byte `off` (< size).
  std::size_t index_of(std::uint64_t off) const {
    auto it = std::upper_bound(offsets.begin(), offsets.end(), off);
    return static_cast<std::size_t>(it - offsets.begin()) - 1;
  }

  const Obj& open(std::size_t i, const std::string& label) const {
    Obj& o = objs[i];
    if (o.fd) return o;
    fs::path p = object_file(i);
    int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      if (errno == ENOENT && manifest) {
        const Segment& g = manifest->segments[i];
        throw Error(Exit::missing, prefix(label) + "object " + g.sha256 + " (" + std::to_string(g.size) +
                                       " bytes, segment " + std::to_string(i + 1) + " of " +
                                       std::to_string(manifest->segments.size()) + " of file " + sha +
                                       ") is not in the cache");
      }
      if (errno == ENOENT && store)
        throw Error(Exit::missing, prefix(label) + "object " + sha + " is not in the cache (" + p.string() + ")");
      throw Error(Exit::failure, util::errno_message(p, "cannot open"));
    }
    util::Fd f(fd);
    const std::uint64_t want = offsets[i + 1] - offsets[i];
    struct stat st {};
    if (::fstat(f.get(), &st) != 0) throw Error(Exit::failure, util::errno_message(p, "stat failed"));
    if (static_cast<std::uint64_t>(st.st_size) != want)
      throw Error(store ? Exit::integrity : Exit::failure,
                  prefix(label) + "object " + (manifest ? manifest->segments[i].sha256 : sha) +
                      " is corrupt: it holds " + std::to_string(st.st_size) + " bytes, not the " +
                      std::to_string(want) + (manifest ? " its manifest records" : " it held when opened") + " (" +
                      p.string() + ")");
    o.fd = std::move(f);
    return o;
  }

  const Obj& mapped(std::size_t i, const std::string& label) const {
    const Obj& c = open(i, label);
    Obj& o = objs[i];
    if (o.map || offsets[i + 1] == offsets[i]) return c;
    const std::size_t n = static_cast<std::size_t>(offsets[i + 1] - offsets[i]);
    void* p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE, o.fd.get(), 0);
    if (p == MAP_FAILED) throw Error(Exit::failure, util::errno_message(object_file(i), "cannot map"));
    ::madvise(p, n, MADV_SEQUENTIAL);
    o.map = static_cast<const char*>(p);
    o.map_size = n;
    return c;
  }

  void check_range(std::uint64_t begin, std::uint64_t end) const {
    if (begin > end || end > size)
      throw Error(Exit::failure, "bytes [" + std::to_string(begin) + ", " + std::to_string(end) +
                                     ") are outside file " + (sha.empty() ? path.string() : sha) + " of " +
                                     std::to_string(size) + " bytes");
  }
};

StoredFile::StoredFile(const ObjectStore& store, const std::string& sha) : impl_(std::make_unique<Impl>()) {
  impl_->store = &store;
  impl_->sha = sha;
  fs::path obj = store.object_path(sha);  // validates the name
  struct stat st {};
  if (::stat(obj.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    impl_->path = obj;
    impl_->size = static_cast<std::uint64_t>(st.st_size);
    impl_->offsets = {0, impl_->size};
  } else if ((impl_->manifest = store.manifest(sha))) {
    impl_->size = impl_->manifest->size;
    impl_->offsets.push_back(0);
    for (const Segment& g : impl_->manifest->segments) impl_->offsets.push_back(impl_->offsets.back() + g.size);
  } else {
    throw Error(Exit::missing, "object " + sha + " is not in the cache (" + obj.string() + ")");
  }
  impl_->objs.resize(impl_->offsets.size() - 1);
}

StoredFile::StoredFile(const fs::path& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  impl_->objs.resize(1);
  impl_->objs[0].fd = util::open_read(path);
  struct stat st {};
  if (::fstat(impl_->objs[0].fd.get(), &st) != 0) throw Error(Exit::failure, util::errno_message(path, "stat failed"));
  impl_->size = static_cast<std::uint64_t>(st.st_size);
  impl_->offsets = {0, impl_->size};
}

StoredFile::~StoredFile() = default;

std::uint64_t StoredFile::size() const { return impl_->size; }
const std::string& StoredFile::sha256() const { return impl_->sha; }
const fs::path& StoredFile::path() const { return impl_->path; }  // empty for a manifest
const std::optional<Manifest>& StoredFile::manifest() const { return impl_->manifest; }

std::optional<Span> StoredFile::span(std::uint64_t begin, std::uint64_t end) const {
  const Impl& d = *impl_;
  if (!d.store || begin > end || end > d.size) return std::nullopt;
  if (!d.manifest) return Span{d.sha, begin};
  if (begin == end) return std::nullopt;
  std::size_t i = d.index_of(begin);
  if (end > d.offsets[i + 1]) return std::nullopt;
  return Span{d.manifest->segments[i].sha256, begin - d.offsets[i]};
}

std::string_view StoredFile::view(std::uint64_t begin, std::uint64_t end, std::string& buf,
                                  const std::string& label) const {
  const Impl& d = *impl_;
  d.check_range(begin, end);
  if (begin == end) return {};
  std::size_t i = d.index_of(begin);
  if (end <= d.offsets[i + 1]) {
    const Impl::Obj& o = d.mapped(i, label);
    return std::string_view(o.map + (begin - d.offsets[i]), static_cast<std::size_t>(end - begin));
  }
  buf.resize(static_cast<std::size_t>(end - begin));
  read(begin, end, buf.data(), label);
  return buf;
}

void StoredFile::read(std::uint64_t begin, std::uint64_t end, char* out, const std::string& label) const {
  const Impl& d = *impl_;
  d.check_range(begin, end);
  while (begin < end) {
    std::size_t i = d.index_of(begin);
    const std::uint64_t stop = std::min(end, d.offsets[i + 1]);
    const Impl::Obj& o = d.open(i, label);
    std::uint64_t off = begin - d.offsets[i];
    std::size_t left = static_cast<std::size_t>(stop - begin);
    while (left > 0) {
      ssize_t n = ::pread(o.fd.get(), out, left, static_cast<off_t>(off));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) throw Error(Exit::failure, util::errno_message(d.object_file(i), "read failed"));
      if (n == 0)
        throw Error(Exit::failure, d.object_file(i).string() + ": read failed: the file shrank while being read");
      out += n;
      off += static_cast<std::uint64_t>(n);
      left -= static_cast<std::size_t>(n);
    }
    begin = stop;
  }
}

}  // namespace mvc::store
