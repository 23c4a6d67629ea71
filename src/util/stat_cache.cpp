#include "util/stat_cache.h"

#include <time.h>

#include <charconv>
#include <system_error>

#include "mvc/error.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::util {

namespace {

constexpr std::string_view kMagic = "mvc-stat-cache 1";

/// Parses the next space-terminated decimal field of `line` from `pos`.
template <class T>
bool next_number(std::string_view line, std::size_t& pos, T& out) {
  std::size_t end = line.find(' ', pos);
  if (end == std::string_view::npos) return false;
  auto r = std::from_chars(line.data() + pos, line.data() + end, out);
  if (r.ec != std::errc() || r.ptr != line.data() + end) return false;
  pos = end + 1;
  return true;
}

bool matches(const StatCache::Entry& e, const struct stat& st) {
  return e.dev == static_cast<std::uint64_t>(st.st_dev) && e.ino == static_cast<std::uint64_t>(st.st_ino) &&
         e.size == static_cast<std::uint64_t>(st.st_size) && e.mtime_ns == timespec_ns(st.st_mtim) &&
         e.ctime_ns == timespec_ns(st.st_ctim);
}

}  // namespace

std::int64_t timespec_ns(const struct timespec& t) {
  return static_cast<std::int64_t>(t.tv_sec) * 1000000000LL + t.tv_nsec;
}

std::int64_t coarse_now_ns() {
  struct timespec t {};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &t);
  return timespec_ns(t);
}

StatCache::StatCache(std::filesystem::path file) : file_(std::move(file)) {
  struct stat cst {};
  if (::stat(file_.c_str(), &cst) != 0 || !S_ISREG(cst.st_mode)) return;
  const std::int64_t written_ns = timespec_ns(cst.st_mtim);
  std::string text;
  try {
    text = read_file(file_);
  } catch (const Error&) {
    return;  // a cache that cannot be read is an empty cache
  }
  std::string_view v(text);
  std::size_t nl = v.find('\n');
  if (nl == std::string_view::npos || v.substr(0, nl) != kMagic) return;
  std::size_t pos = nl + 1;
  while (pos < v.size()) {
    nl = v.find('\n', pos);
    if (nl == std::string_view::npos) break;  // a torn last line is ignored
    std::string_view line = v.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.size() < 66 || line[64] != ' ') continue;
    Entry e;
    e.sha256 = std::string(line.substr(0, 64));
    if (!is_sha256_hex(e.sha256)) continue;
    std::size_t p = 65;
    if (!next_number(line, p, e.dev) || !next_number(line, p, e.ino) || !next_number(line, p, e.size) ||
        !next_number(line, p, e.mtime_ns) || !next_number(line, p, e.ctime_ns) ||
        !next_number(line, p, e.hashed_at_ns) || p >= line.size())
      continue;
    // Racy-clean: an mtime not older than the hashing start or the cache write is not trusted.
    e.trusted = e.mtime_ns < e.hashed_at_ns && e.mtime_ns < written_ns;
    entries_[std::string(line.substr(p))] = std::move(e);
  }
}

std::optional<std::string> StatCache::lookup(const std::string& key, const struct stat& st) const {
  auto it = entries_.find(key);
  if (it == entries_.end() || !it->second.trusted || !S_ISREG(st.st_mode) || !matches(it->second, st))
    return std::nullopt;
  return it->second.sha256;
}

void StatCache::record(const std::string& key, const struct stat& st, const std::string& sha256,
                       std::int64_t hashed_at_ns) {
  if (key.empty() || key.find('\n') != std::string::npos || !is_sha256_hex(sha256)) return;
  Entry e;
  e.sha256 = sha256;
  e.dev = static_cast<std::uint64_t>(st.st_dev);
  e.ino = static_cast<std::uint64_t>(st.st_ino);
  e.size = static_cast<std::uint64_t>(st.st_size);
  e.mtime_ns = timespec_ns(st.st_mtim);
  e.ctime_ns = timespec_ns(st.st_ctim);
  e.hashed_at_ns = hashed_at_ns;
  e.trusted = e.mtime_ns < e.hashed_at_ns;
  auto it = entries_.find(key);
  if (!e.trusted) {
    // Racily clean: remembering it would be useless (never trusted) — forget any old entry.
    if (it != entries_.end()) {
      entries_.erase(it);
      dirty_ = true;
    }
    return;
  }
  if (it != entries_.end() && it->second.trusted && it->second.sha256 == e.sha256 && matches(it->second, st) &&
      it->second.hashed_at_ns == e.hashed_at_ns)
    return;
  entries_[key] = std::move(e);
  dirty_ = true;
}

void StatCache::erase(const std::string& key) {
  if (entries_.erase(key)) dirty_ = true;
}

void StatCache::save() {
  if (!dirty_) return;
  std::string text(kMagic);
  text += '\n';
  for (const auto& [key, e] : entries_) {
    if (!e.trusted) continue;  // never launder a racy entry into a newer cache file
    text += e.sha256;
    for (std::uint64_t n : {e.dev, e.ino, e.size}) {
      text += ' ';
      text += std::to_string(n);
    }
    for (std::int64_t n : {e.mtime_ns, e.ctime_ns, e.hashed_at_ns}) {
      text += ' ';
      text += std::to_string(n);
    }
    text += ' ';
    text += key;
    text += '\n';
  }
  std::error_code ec;
  std::filesystem::create_directories(file_.parent_path(), ec);
  if (ec) throw Error(Exit::failure, file_.parent_path().string() + ": cannot create: " + ec.message());
  // No fsync needed for correctness (a torn or lost cache is an empty cache), but
  // write_file_atomic's fsync keeps the file whole; it is small.
  write_file_atomic(file_, text);
  dirty_ = false;
}

}  // namespace mvc::util
