#include "core/workspace.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <cerrno>
#include <iostream>

#include "core/tensor_split.h"
#include "core/toml_parse.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/lock.h"
#include "util/parallel.h"
#include "util/sha256.h"
#include "util/text.h"

namespace mvc::core {

namespace {

const char* kGitignore =
    "# mvc: local files that never go into git\n"
    "/cache/\n"
    "/tmp/\n"
    "/state/\n"
    "/config.local.toml\n"
    "/*.lock\n";

const char* kConfig =
    "# mvc repository configuration (committed; credentials go in config.local.toml)\n"
    "format = 1\n";

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

void check_config(const fs::path& cfg) {
  toml::table t = parse_toml(util::read_file(cfg), cfg.string(), Exit::not_repo);
  auto fmt = t["format"].value<int64_t>();
  if (!fmt) throw Error(Exit::not_repo, cfg.string() + ": missing integer key 'format'");
  if (*fmt > kRepoFormat)
    throw Error(Exit::not_repo, cfg.string() + ": repository format " + std::to_string(*fmt) +
                                    " needs a newer mvc (this one reads format " + std::to_string(kRepoFormat) + ")");
  if (*fmt < 1) throw Error(Exit::not_repo, cfg.string() + ": invalid format " + std::to_string(*fmt));
}

}  // namespace

Workspace::Workspace(std::unique_ptr<git::Repo> g, fs::path cache, Config cfg)
    : git_(std::move(g)), store_(std::move(cache)), config_(std::move(cfg)) {
  store_.set_splitter(weights_splitter());
}

void Workspace::reload_config() { config_ = load_config(mvc_dir()); }
Workspace::Workspace(Workspace&&) noexcept = default;
Workspace& Workspace::operator=(Workspace&&) noexcept = default;
Workspace::~Workspace() = default;

util::StatCache& Workspace::stat_cache() {
  if (!stat_cache_) stat_cache_ = std::make_unique<util::StatCache>(mvc_dir() / "state" / "stat-cache");
  return *stat_cache_;
}

std::vector<std::string> Workspace::hash_files(const std::vector<std::string>& rels,
                                               std::vector<std::uint64_t>* sizes) {
  util::StatCache& cache = stat_cache();
  std::vector<std::string> out(rels.size());
  std::vector<std::uint64_t> size(rels.size(), 0);
  std::vector<std::size_t> misses;
  for (std::size_t i = 0; i < rels.size(); ++i) {
    struct stat st {};
    fs::path p = root() / rels[i];
    if (::lstat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      if (auto hit = cache.lookup(rels[i], st)) {
        out[i] = *hit;
        size[i] = static_cast<std::uint64_t>(st.st_size);
        continue;
      }
    }
    misses.push_back(i);
  }
  struct Hashed {
    struct stat before {
    }, after{};
    std::int64_t hashed_at = 0;
  };
  std::vector<Hashed> info(rels.size());
  util::parallel_for(misses.size(), [&](std::size_t k) {
    std::size_t i = misses[k];
    fs::path p = root() / rels[i];
    util::Fd fd = util::open_read(p);
    Hashed& h = info[i];
    if (::fstat(fd.get(), &h.before) != 0) throw Error(Exit::failure, util::errno_message(p, "stat failed"));
    h.hashed_at = util::coarse_now_ns();
    ::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
    util::StreamResult r = util::sha256_stream(fd, p);
    if (::fstat(fd.get(), &h.after) != 0) throw Error(Exit::failure, util::errno_message(p, "stat failed"));
    out[i] = r.sha256;
    size[i] = r.size;
  });
  for (std::size_t i : misses) {
    const Hashed& h = info[i];
    // Record only what was stable while it was read.
    if (util::timespec_ns(h.before.st_mtim) == util::timespec_ns(h.after.st_mtim) &&
        h.before.st_size == h.after.st_size && static_cast<std::uint64_t>(h.after.st_size) == size[i])
      cache.record(rels[i], h.before, out[i], h.hashed_at);
    else
      cache.erase(rels[i]);
  }
  if (sizes) *sizes = std::move(size);
  return out;
}

void Workspace::save_state() noexcept {
  if (!stat_cache_) return;
  try {
    stat_cache_->save();
  } catch (...) {
    // a cache that cannot be written costs a rehash later, nothing else
  }
}

namespace {

constexpr std::string_view kLayoutMagic = "mvc-cache-layout ";

/// Where a path is, for messages: relative to the work tree when inside it.
std::string shown(const fs::path& p, const fs::path& root) {
  fs::path r = p.lexically_relative(root);
  return !r.empty() && r.begin()->string() != ".." ? r.generic_string() : p.string();
}

/// Reads `<cache>/layout`, writing it when the cache has none (a new cache, or one an mvc
/// before 0.2 made: layout 1 is what those wrote). Throws Exit::not_repo for a newer layout or
/// a file that is not a layout.
void check_cache_layout(const fs::path& cache, const fs::path& root) {
  fs::path f = cache / "layout";
  std::error_code ec;
  if (!fs::exists(f, ec)) {
    try {
      fs::create_directories(cache);
      util::write_file_atomic(f, std::string(kLayoutMagic) + std::to_string(kCacheLayoutWhole) + "\n");
    } catch (const std::exception&) {
      // a read-only cache is still readable; the next write reports the problem
    }
    return;
  }
  std::string text = util::first_line(util::read_file(f));
  std::string digits = text.rfind(kLayoutMagic, 0) == 0 ? text.substr(kLayoutMagic.size()) : "";
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos)
    throw Error(Exit::not_repo, shown(f, root) + ": not an mvc cache layout (expected '" + std::string(kLayoutMagic) +
                                    std::to_string(kCacheLayout) + "')");
  int v = std::stoi(digits);
  if (v > kCacheLayout)
    throw Error(Exit::not_repo, shown(f, root) + ": cache layout " + digits + " is newer than this mvc reads (" +
                                    std::to_string(kCacheLayout) + "); upgrade mvc");
}

/// Moves `from`'s contents into `to`, a directory tree of immutable files: each file is
/// renamed into place (or, across filesystems, copied through a temp file in `tmpdir` and then
/// removed); a file already there is kept and the moved one dropped (objects are named by
/// their bytes); a file another process moved meanwhile is skipped. Returns the files this
/// process moved.
std::size_t merge_tree(const fs::path& from, const fs::path& to, const fs::path& tmpdir) {
  std::size_t n = 0;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(from, ec), end; !ec && it != end; it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    fs::path dest = to / it->path().lexically_relative(from);
    fs::create_directories(dest.parent_path());
    if (util::lexists(dest)) {
      if (::unlink(it->path().c_str()) == 0) ++n;
      continue;
    }
    if (::rename(it->path().c_str(), dest.c_str()) != 0) {
      if (errno == ENOENT) continue;  // another mvc moved it first
      if (errno != EXDEV) throw Error(Exit::failure, util::errno_message(it->path(), "cannot move into the cache"));
      fs::create_directories(tmpdir);
      util::TempFile tmp(tmpdir, "object");  // in tmp/: reclaimed like any temp if this is killed
      util::Fd in = util::open_read(it->path());
      util::copy_and_hash(in, it->path(), tmp.fd(), tmp.path(), {}, /*sync_out=*/true);
      ::fchmod(tmp.fd().get(), util::with_umask(0444));  // an object: read-only, as the umask allows
      tmp.commit_to(dest);
      ::unlink(it->path().c_str());
    }
    ++n;
  }
  return n;
}

/// An older mvc kept a cache per work tree in `.mvc/cache`. Moves it (objects, quarantine;
/// stale temps are dropped) into `cache`, once; says so on stderr when this process moved
/// anything. A `.mvc/cache` that is a symlink (a cache put on another disk by hand) is not
/// moved: it is returned, to be used as the cache, as `[cache] dir` would be.
std::optional<fs::path> migrate_work_tree_cache(const fs::path& legacy, const fs::path& cache, const fs::path& root) {
  std::error_code ec;
  if (fs::is_symlink(legacy, ec)) {
    if (fs::is_directory(legacy, ec)) return legacy;
    return std::nullopt;
  }
  if (!fs::is_directory(legacy, ec)) return std::nullopt;
  std::size_t moved = 0;
  if (!fs::exists(cache, ec)) {
    std::size_t objects = store::list_objects_in(legacy).size();
    fs::create_directories(cache.parent_path());
    if (::rename(legacy.c_str(), cache.c_str()) == 0)
      moved = objects;
    else if (errno != EXDEV && errno != ENOENT && errno != EEXIST && errno != ENOTEMPTY)
      throw Error(Exit::failure, util::errno_message(legacy, "cannot move the cache") + " (to " + cache.string() + ")");
  }
  if (fs::exists(legacy, ec)) {
    moved += merge_tree(legacy / "objects", cache / "objects", cache / "tmp");
    merge_tree(legacy / "quarantine", cache / "quarantine", cache / "tmp");
    util::reclaim_temps(legacy / "tmp", std::chrono::hours(1));
    for (const char* sub : {"objects", "quarantine", "tmp"}) {
      // only empty directories are removed: a live writer's temp keeps its tmp/
      std::vector<fs::path> dirs;
      for (fs::recursive_directory_iterator it(legacy / sub, ec), end; !ec && it != end; it.increment(ec))
        if (it->is_directory(ec)) dirs.push_back(it->path());
      std::sort(dirs.rbegin(), dirs.rend());
      for (auto& d : dirs) fs::remove(d, ec);
      fs::remove(legacy / sub, ec);
    }
    fs::remove(legacy / "layout", ec);
    fs::remove(legacy, ec);  // fails, leaving it, when anything else is in it
  }
  if (moved > 0)
    std::cerr << "mvc: moved the object cache from " << shown(legacy, root) << " to " << shown(cache, root) << " ("
              << moved << " object" << (moved == 1 ? "" : "s") << "; cache layout " << kCacheLayoutWhole << ")\n";
  return std::nullopt;
}

/// The line in `<common dir>/info/exclude` that hides mvc's temp files from git.
constexpr std::string_view kExcludeLine = "*.mvc-tmp.*";

}  // namespace

fs::path default_cache_dir(const git::Repo& g) { return g.commondir() / "mvc" / "cache"; }

Workspace Workspace::open(const fs::path& start) {
  auto g = std::make_unique<git::Repo>(git::Repo::discover(start));
  fs::path cfg = g->workdir() / ".mvc" / "config.toml";
  if (!fs::exists(cfg))
    throw Error(Exit::not_repo,
                g->workdir().string() + ": not an mvc repository (no .mvc/config.toml); run 'mvc init'");
  check_config(cfg);
  Config c = load_config(g->workdir() / ".mvc");
  fs::path cache = default_cache_dir(*g);
  if (!c.cache_dir.empty())
    cache = (g->workdir() / ".mvc" / fs::path(c.cache_dir)).lexically_normal();
  else if (auto linked = migrate_work_tree_cache(g->workdir() / ".mvc" / "cache", cache, g->workdir()))
    cache = *linked;
  check_cache_layout(cache, g->workdir());
  return Workspace(std::move(g), cache, std::move(c));
}

void Workspace::prepare_writes(const std::vector<std::string>& dirs) {
  if (!writes_prepared_) {
    writes_prepared_ = true;
    ensure_temps_ignored(*git_);
    util::reclaim_temps(store_.root() / "tmp", kTempGrace);
  }
  for (const auto& d : dirs) util::reclaim_temps(root() / d, kTempGrace);
}

void ensure_temps_ignored(const git::Repo& g) {
  fs::path f = g.commondir() / "info" / "exclude";
  std::error_code ec;
  std::string text = fs::exists(f, ec) ? util::read_file(f) : "";
  for (std::string_view line : util::split_lines(text))
    if (line == kExcludeLine) return;
  if (!text.empty() && text.back() != '\n') text += '\n';
  text += "# mvc: temp files of writes in progress or interrupted (docs/repository-format.md)\n";
  text += std::string(kExcludeLine) + "\n";
  try {
    fs::create_directories(f.parent_path());
    util::write_file_atomic(f, text);
  } catch (const std::exception&) {
    // best effort: an unwritable exclude file only lets git show a temp file
  }
}

bool Workspace::init(const fs::path& start, std::string* root_out) {
  git::Repo g = git::Repo::discover(start);
  if (root_out) *root_out = g.workdir().string();
  fs::path dir = g.workdir() / ".mvc";
  fs::path cfg = dir / "config.toml";
  fs::path ign = dir / ".gitignore";
  bool created = false;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw Error(Exit::failure, dir.string() + ": cannot create: " + ec.message());
  if (fs::exists(cfg)) {
    check_config(cfg);
  } else {
    util::write_file_atomic(cfg, kConfig);
    created = true;
  }
  if (!fs::exists(ign)) {
    util::write_file_atomic(ign, kGitignore);
    created = true;
  }
  ensure_temps_ignored(g);
  g.stage({".mvc/config.toml", ".mvc/.gitignore"});
  return created;
}

std::string join(const std::string& dir, const std::string& name) {
  if (dir.empty()) return name;
  return dir + "/" + name;
}

std::vector<std::string> workspace_model_dirs(const Workspace& ws) {
  std::vector<std::string> out;
  const fs::path& root = ws.root();
  std::error_code ec;
  if (fs::is_regular_file(root / kArchFile, ec)) out.push_back("");
  fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, ec), end;
  for (; !ec && it != end; it.increment(ec)) {
    const fs::directory_entry& e = *it;
    if (!e.is_directory(ec) || e.is_symlink(ec)) continue;
    std::string name = e.path().filename().string();
    if (name == ".git" || name == ".mvc" || fs::exists(e.path() / ".git")) {
      it.disable_recursion_pending();
      continue;
    }
    if (fs::is_regular_file(e.path() / kArchFile, ec))
      out.push_back(e.path().lexically_relative(root).generic_string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::string> model_dirs_at(const Workspace& ws, const std::string& commit) {
  std::vector<std::string> out;
  for (const auto& p : ws.git().find_files_at(commit, kArchFile)) {
    auto slash = p.rfind('/');
    out.push_back(slash == std::string::npos ? "" : p.substr(0, slash));
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string PointerFile::weights_rel() const {
  auto slash = rel.rfind('/');
  std::string dir = slash == std::string::npos ? "" : rel.substr(0, slash);
  return join(dir, pointer.path);
}

std::string PointerFile::display() const { return commit.empty() ? rel : rel + " at " + commit.substr(0, 7); }

std::optional<PointerFile> workspace_pointer(const Workspace& ws, const std::string& dir) {
  fs::path d = ws.root() / dir;
  std::vector<std::string> found;
  std::error_code ec;
  for (auto& e : fs::directory_iterator(d, ec)) {
    std::string n = e.path().filename().string();
    if (ends_with(n, kPointerSuffix) && n.size() > 4 && e.is_regular_file(ec)) found.push_back(n);
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end());
  if (found.size() > 1)
    throw Error(Exit::model, (dir.empty() ? std::string(".") : dir) + ": several pointer files (" + found[0] + ", " +
                                 found[1] + "); a model directory has one weights file");
  PointerFile pf;
  pf.rel = join(dir, found[0]);
  pf.pointer = parse_pointer(util::read_file(ws.root() / pf.rel), pf.rel);
  return pf;
}

std::optional<PointerFile> pointer_at(const Workspace& ws, const std::string& commit, const std::string& dir) {
  std::vector<std::string> found;
  for (auto& n : ws.git().list_dir_at(commit, dir))
    if (ends_with(n, kPointerSuffix) && n.size() > 4) found.push_back(n);
  if (found.empty()) return std::nullopt;
  if (found.size() > 1)
    throw Error(Exit::model, (dir.empty() ? std::string(".") : dir) + " at " + commit.substr(0, 7) +
                                 ": several pointer files; a model directory has one weights file");
  PointerFile pf;
  pf.rel = join(dir, found[0]);
  auto text = ws.git().read_blob_at(commit, pf.rel);
  pf.commit = commit;
  pf.pointer = parse_pointer(*text, pf.display());
  return pf;
}

std::string wrong_pointer_size(const std::string& pointer_name, const std::string& sha256, std::uint64_t recorded,
                               std::uint64_t actual) {
  return pointer_name + ": wrong size: the pointer records " + std::to_string(recorded) + " bytes, but its object " +
         sha256 + " is " + std::to_string(actual) +
         " bytes and intact (they hash to its name); the pointer is invalid, not the object: set size = " +
         std::to_string(actual) + " in it";
}

void check_pointer_size(const Workspace& ws, const PointerFile& pf) {
  const Pointer& p = pf.pointer;
  auto n = ws.store().file_size(p.sha256);
  if (!n || *n == p.size) return;
  ws.store().verify(p.sha256);  // a corrupt object is the object's fault
  throw Error(Exit::model, wrong_pointer_size(pf.display(), p.sha256, p.size, *n));
}

}  // namespace mvc::core
