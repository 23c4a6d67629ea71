#include "core/workspace.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <toml++/toml.h>

#include "core/toml_parse.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/parallel.h"
#include "util/sha256.h"

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
    : git_(std::move(g)), store_(std::move(cache)), config_(std::move(cfg)) {}

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
    struct stat before {}, after {};
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

Workspace Workspace::open(const fs::path& start) {
  auto g = std::make_unique<git::Repo>(git::Repo::discover(start));
  fs::path cfg = g->workdir() / ".mvc" / "config.toml";
  if (!fs::exists(cfg))
    throw Error(Exit::not_repo, g->workdir().string() + ": not an mvc repository (no .mvc/config.toml); run 'mvc init'");
  check_config(cfg);
  Config c = load_config(g->workdir() / ".mvc");
  fs::path cache = g->workdir() / ".mvc" / "cache";
  if (!c.cache_dir.empty()) cache = (g->workdir() / ".mvc" / fs::path(c.cache_dir)).lexically_normal();
  return Workspace(std::move(g), cache, std::move(c));
}

bool Workspace::init(const fs::path& start, std::string* root_out) {
  git::Repo g = git::Repo::discover(start);
  if (root_out) *root_out = g.workdir().string();
  fs::path dir = g.workdir() / ".mvc";
  fs::path cfg = dir / "config.toml";
  fs::path ign = dir / ".gitignore";
  bool created = false;
  std::error_code ec;
  fs::create_directories(dir / "cache", ec);
  if (ec) throw Error(Exit::failure, (dir / "cache").string() + ": cannot create: " + ec.message());
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
  fs::path obj = ws.store().object_path(p.sha256);
  struct stat st {};
  if (::stat(obj.c_str(), &st) != 0 || static_cast<std::uint64_t>(st.st_size) == p.size) return;
  ws.store().verify(p.sha256);  // a corrupt object is the object's fault
  throw Error(Exit::model, wrong_pointer_size(pf.display(), p.sha256, p.size, static_cast<std::uint64_t>(st.st_size)));
}

}  // namespace mvc::core
