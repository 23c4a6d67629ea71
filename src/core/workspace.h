// An mvc repository: a git work tree with a `.mvc/` directory (docs/repository-format.md), its object
// cache, and the model directories in it.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/config.h"
#include "core/pointer.h"
#include "git/repo.h"
#include "store/object_store.h"
#include "util/stat_cache.h"

namespace mvc::core {

namespace fs = std::filesystem;

/// The repository format this mvc reads and writes (`.mvc/config.toml` `format`).
inline constexpr int kRepoFormat = 1;
inline constexpr const char* kArchFile = "arch.toml";
inline constexpr const char* kHparamsFile = "hparams.toml";
inline constexpr const char* kMetricsFile = "metrics.toml";
/// The newest object cache layout this mvc reads (`<cache>/layout` holds "mvc-cache-layout N"):
/// 2 = files may be stored as manifests and segment objects (store::kLayoutManifests). A cache
/// stays at 1 (what a new cache gets) until its first manifest is written, which raises it to 2.
inline constexpr int kCacheLayout = 2;
/// The layout a new cache, or one moved from `.mvc/cache`, is given: whole-file objects only.
inline constexpr int kCacheLayoutWhole = 1;
/// Temp files younger than this whose writer's liveness cannot be known (another host's, or
/// an older mvc's unnamed ones) are left alone by prepare_writes (gc takes --grace).
inline constexpr std::chrono::hours kTempGrace{1};

class Workspace {
 public:
  /// Opens the mvc repository containing `start`. Throws Exit::not_repo when there is no git
  /// work tree, no `.mvc/config.toml` ("run mvc init"), or a config whose format is newer than
  /// kRepoFormat (naming the version needed). The cache is `<git common dir>/mvc/cache`
  /// (default_cache_dir: shared by every worktree), or `[cache] dir` (relative to `.mvc/`) when
  /// configured. A cache an mvc before 0.2 left in the work tree's `.mvc/cache` is moved there
  /// first (once, said on stderr). Throws Exit::not_repo when `<cache>/layout` names a layout
  /// newer than kCacheLayout, or is not a layout file; writes it when absent.
  static Workspace open(const fs::path& start);
  /// Creates `.mvc/` (config.toml with format = 1, .gitignore) in the git work tree containing
  /// `start` and stages both; idempotent. Returns true when something was created.
  static bool init(const fs::path& start, std::string* root_out = nullptr);

  git::Repo& git() { return *git_; }
  const git::Repo& git() const { return *git_; }
  const fs::path& root() const { return git_->workdir(); }
  fs::path mvc_dir() const { return root() / ".mvc"; }
  store::ObjectStore& store() { return store_; }
  const store::ObjectStore& store() const { return store_; }
  /// config.toml with config.local.toml's overrides, as read by open().
  const Config& config() const { return config_; }
  /// True when `[cache] dir` points the cache elsewhere (it may be shared by repositories).
  bool cache_configured() const { return !config_.cache_dir.empty(); }
  /// Called by every command before it writes into the work tree or the cache: makes sure git
  /// ignores mvc's temp files (ensure_temps_ignored) and removes the stale temp files
  /// (util::reclaim_temps with kTempGrace: a writer dead on this host at once) in the cache's
  /// tmp/ (once per process) and in the model directories `dirs` (repo-relative).
  void prepare_writes(const std::vector<std::string>& dirs);
  /// Re-reads the configuration (after `remote add`, ...).
  void reload_config();

  /// The stat cache of work-tree files (`.mvc/state/stat-cache`, local, git-ignored), loaded
  /// on first use. See util/stat_cache.h for when an entry is trusted.
  util::StatCache& stat_cache();
  /// SHA-256 (64 hex) of each work-tree file in `rels` (repo-relative, regular files), in the
  /// same order: from the stat cache when the file's stat data is unchanged and not racily
  /// clean, else read and hashed — several files in parallel on up to
  /// std::thread::hardware_concurrency() threads — and recorded. `sizes`, when given, receives
  /// the byte counts. Throws mvc::Error(Exit::failure) naming the file on I/O errors.
  std::vector<std::string> hash_files(const std::vector<std::string>& rels,
                                      std::vector<std::uint64_t>* sizes = nullptr);
  std::string hash_file(const std::string& rel) { return hash_files({rel}).front(); }
  /// Writes the stat cache if it changed. Best effort: a cache that cannot be written only
  /// costs a rehash later, so errors are swallowed.
  void save_state() noexcept;

  Workspace(Workspace&&) noexcept;
  Workspace& operator=(Workspace&&) noexcept;
  ~Workspace();

 private:
  Workspace(std::unique_ptr<git::Repo> g, fs::path cache, Config cfg);
  std::unique_ptr<git::Repo> git_;
  store::ObjectStore store_;
  Config config_;
  std::unique_ptr<util::StatCache> stat_cache_;
  bool writes_prepared_ = false;
};

/// `<git common dir>/mvc/cache`: the object cache unless `[cache] dir` is configured.
fs::path default_cache_dir(const git::Repo& g);
/// Adds `*.mvc-tmp.*` (util::TempFile's names) to `<git common dir>/info/exclude` unless a
/// line says so already. Best effort: nothing is thrown.
void ensure_temps_ignored(const git::Repo& g);

/// Repo-relative path join ("" is the root): join("models/clf", "arch.toml").
std::string join(const std::string& dir, const std::string& name);

/// Model directories (holding arch.toml) in the work tree, repo-relative, sorted. Skips .git,
/// .mvc and directories that are themselves git repositories.
std::vector<std::string> workspace_model_dirs(const Workspace& ws);
/// Model directories in a commit's tree.
std::vector<std::string> model_dirs_at(const Workspace& ws, const std::string& commit);

/// A model directory's pointer: its repo-relative path and contents.
struct PointerFile {
  std::string rel;  ///< "models/clf/weights.safetensors.mvc"
  Pointer pointer;
  std::string commit;               ///< the commit it was read from ("" = the work tree)
  std::string weights_rel() const;  ///< "models/clf/weights.safetensors"
  std::string display() const;      ///< rel, or "<rel> at <short commit>", for messages
};
/// The pointer file in the work tree directory `dir` (a `*.mvc` file), or nullopt. Throws
/// Exit::model when there are several or one is invalid.
std::optional<PointerFile> workspace_pointer(const Workspace& ws, const std::string& dir);
/// The pointer file of `dir` in `commit`'s tree, or nullopt.
std::optional<PointerFile> pointer_at(const Workspace& ws, const std::string& commit, const std::string& dir);

/// The message for a pointer, named `pointer_name`, that records object `sha256` with size
/// `recorded` (bytes) when the intact object has `actual` bytes: the pointer is what is wrong.
std::string wrong_pointer_size(const std::string& pointer_name, const std::string& sha256, std::uint64_t recorded,
                               std::uint64_t actual);

/// Checks the size `pf` records against its object in the cache, before the object is used
/// for it (checkout, run, verify, Repository::source): one stat when they agree. When they
/// differ the object is re-hashed: corrupt, Exit::integrity (ObjectStore::verify); intact, the
/// pointer is wrong: Exit::model wrong_pointer_size(pf.display(), ...). Nothing happens when
/// the object is absent (its use reports Exit::missing).
void check_pointer_size(const Workspace& ws, const PointerFile& pf);

}  // namespace mvc::core
