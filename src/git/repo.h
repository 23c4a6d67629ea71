// libgit2 wrappers (docs/user-guide.md, hooks): discovery, reading trees at any revision, staging,
// committing the index, tags, path history, and checkouts. No model knowledge here.
// Paths given to and returned by this API are repository-relative with '/' separators.
// Errors: mvc::Error(Exit::not_repo) when no repository is found, Exit::failure otherwise,
// with libgit2's message.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

struct git_repository;
struct git_index;

namespace mvc::util {
class FileLock;
}

namespace mvc::git {

namespace fs = std::filesystem;

/// Calls git_libgit2_init once per process.
void ensure_init();

struct CommitInfo {
  std::string id;        ///< 40 hex
  std::string short_id;  ///< 7 hex
  std::string author_name;
  std::string author_email;
  std::int64_t time = 0;   ///< author time, seconds since the epoch
  int offset_minutes = 0;  ///< author time zone offset
  std::string summary;     ///< first line of the message
  std::string message;
  std::vector<std::string> parents;
};

/// A path with unmerged entries in the index (a merge, rebase, cherry-pick or revert stopped on
/// a conflict): the blob ids of its stages, "" where a stage is absent (the file was added on
/// one side only, or deleted on one side).
struct Conflict {
  std::string path;
  std::string ancestor;  ///< stage 1, the merge base's
  std::string ours;      ///< stage 2, HEAD's side
  std::string theirs;    ///< stage 3, the side being merged in
};

/// An operation in progress, as git_repository_state reports it.
enum class RepoState { none, merge, rebase, cherry_pick, revert, bisect };

class Repo {
 public:
  /// Finds the repository containing `start` (like `git rev-parse --show-toplevel`).
  /// Throws Exit::not_repo for no repository, or a bare one.
  static Repo discover(const fs::path& start);
  Repo(Repo&&) noexcept;
  Repo& operator=(Repo&&) noexcept;
  ~Repo();

  /// Work tree root, absolute, without trailing slash.
  const fs::path& workdir() const { return workdir_; }
  fs::path gitdir() const;
  /// The directory shared by all worktrees of this repository (`git rev-parse
  /// --git-common-dir`): the main `.git` also for a linked worktree.
  fs::path commondir() const;
  /// A shallow clone (`git clone --depth`): the commits listed in `<commondir>/shallow` are
  /// here but their parents are not. Walks of history (log, rev_list, blobs_with_suffix) stop
  /// at those commits, as git's do.
  bool is_shallow() const;
  /// What another worktree of this repository (the main one, or a linked one under
  /// `<commondir>/worktrees/NAME`, locked or with its directory gone included) keeps alive,
  /// read from its git dir: the commits of its HEAD and HEAD reflog, and its index file.
  struct OtherWorktree {
    fs::path gitdir;                   ///< `<commondir>` or `<commondir>/worktrees/NAME`
    fs::path workdir;                  ///< its work tree ("" when unknown or gone)
    std::vector<std::string> commits;  ///< HEAD and every commit in its HEAD reflog
    fs::path index;                    ///< its index file ("" when there is none)
  };
  std::vector<OtherWorktree> other_worktrees() const;
  /// Throws Exit::failure, naming the other worktree, when `rev` is a local branch that another
  /// worktree has checked out (git refuses to switch to it too); nothing is changed.
  void check_switch(const std::string& rev) const;
  git_repository* raw() const { return repo_; }
  /// The index file: $GIT_INDEX_FILE when set (relative to the current directory, as git
  /// reads it; hooks run by `git commit` get the index being committed this way), else
  /// `<gitdir>/index`.
  fs::path index_file() const;

  /// Full commit id of a revision (branch, tag, "HEAD~2", short id, ...); nullopt if it does
  /// not name a commit.
  std::optional<std::string> try_resolve_commit(const std::string& rev) const;
  /// As try_resolve_commit, throwing mvc::Error(Exit::usage) "unknown revision '<rev>'".
  std::string resolve_commit(const std::string& rev) const;
  bool head_unborn() const;
  /// Branch name HEAD points at ("main"), or nullopt when detached.
  std::optional<std::string> head_branch() const;

  /// Contents of `path` in the tree of `commit` (a full id), or nullopt when absent.
  std::optional<std::string> read_blob_at(const std::string& commit, const std::string& path) const;
  /// Id of the tree entry at `path` in `commit` (blob or tree), or nullopt.
  std::optional<std::string> entry_id_at(const std::string& commit, const std::string& path) const;
  /// Names of the blobs directly inside directory `dir` ("" = root) of `commit`'s tree.
  std::vector<std::string> list_dir_at(const std::string& commit, const std::string& dir) const;
  /// Paths of all blobs named `file_name` in `commit`'s tree (recursively).
  std::vector<std::string> find_files_at(const std::string& commit, const std::string& file_name) const;

  // --- work-tree text files, through git's filters ---------------------------------------
  // A blob holds a file's "clean" form; the work tree holds what git's to-worktree filters
  // (core.autocrlf, core.eol, the text/eol/ident attributes of .gitattributes) make of it, e.g.
  // CRLF line ends. Every comparison of a work-tree file with a blob, and every write of a
  // blob's contents into the work tree, goes through these three, so that mvc sees a file as
  // git status does and writes it as git checkout would.

  /// The work-tree file `rel` as `git add` would store it (the to-ODB filters applied), or
  /// nullopt when it is not a regular file (or a symlink to one).
  std::optional<std::string> read_worktree_clean(const std::string& rel) const;
  /// True when the work-tree file `rel` holds `blob` (a blob's contents; nullopt = absent), as
  /// git status judges: its clean form equals the blob.
  bool worktree_matches(const std::string& rel, const std::optional<std::string>& blob) const;
  /// Writes `clean` (a blob's contents) to the work-tree file `rel` as git checkout would: the
  /// to-worktree filters applied, atomically (temp file + fsync + rename), mode 0666 & ~umask.
  void write_worktree(const std::string& rel, const std::string& clean) const;

  /// Staged contents of `path`, or nullopt when it is not in the index.
  std::optional<std::string> read_index_blob(const std::string& path) const;
  /// Paths of all (stage 0) index entries.
  std::vector<std::string> index_paths() const;
  /// Paths whose index entry differs from HEAD's tree (added, modified, removed, unmerged):
  /// what `git diff --cached --name-only` lists; every index path when HEAD is unborn.
  std::vector<std::string> staged_paths() const;
  /// Paths of all index entries named `file_name`.
  std::vector<std::string> find_files_in_index(const std::string& file_name) const;
  /// The index's unmerged paths (git_index_has_conflicts, git_index_conflict_*), sorted by
  /// path; empty when there are none. The only way mvc learns of a conflict: never by reading
  /// conflict markers in a file.
  std::vector<Conflict> conflicts() const;
  /// Contents of blob `id` (40 hex).
  std::string read_blob(const std::string& id) const;
  /// The commit whose changes are being brought in ("theirs" in git's terms): MERGE_HEAD (a
  /// merge of one branch), CHERRY_PICK_HEAD or REBASE_HEAD; else, in the pre-merge-commit hook
  /// (git merge writes MERGE_HEAD after it), the one GITHEAD_<id> variable git merge exports;
  /// nullopt when none is recorded (no operation, a revert, an octopus merge).
  std::optional<std::string> their_commit() const;
  /// Stages the work tree state of each path: added/updated when the file exists, removed
  /// from the index when it does not. Either way an unmerged path is resolved (its conflict
  /// entries leave the index, as after `git add` / `git rm`). Writes the index.
  void stage(const std::vector<std::string>& paths);
  /// Removes paths from the index only (like `git rm --cached`). Writes the index.
  void unstage_remove(const std::vector<std::string>& paths);

  /// Commits the index on top of HEAD with the user's identity (git config user.name/email,
  /// or GIT_AUTHOR_*/GIT_COMMITTER_* variables as git reads them). Returns nullopt and
  /// creates nothing when the index tree equals HEAD's tree. Updates HEAD's branch (and its
  /// reflog).
  std::optional<std::string> commit_index(const std::string& message);
  /// Commits only `paths` as the index has them (staged, or absent from the index: removed),
  /// on top of HEAD's tree, like `git commit --only -- PATHS`: other staged changes stay staged
  /// and out of the commit. Same identity and HEAD update as commit_index. Returns nullopt and
  /// creates nothing when the tree equals HEAD's. Throws Exit::failure when HEAD is unborn.
  std::optional<std::string> commit_only(const std::vector<std::string>& paths, const std::string& message);

  /// True when `name` is a valid tag name (git check-ref-format).
  static bool valid_tag_name(const std::string& name);
  bool tag_exists(const std::string& name) const;
  /// Creates an annotated tag `name` on `commit` with `message`, tagger = the user's identity.
  void create_tag(const std::string& name, const std::string& commit, const std::string& message);
  /// Tag names pointing (directly or through an annotated tag) at each commit id.
  std::vector<std::pair<std::string, std::string>> tags() const;  ///< (tag name, commit id)

  /// Commits reachable from `from` (a full id), newest first (topological + time), in which
  /// `path` (a file or directory) differs from every parent — as `git log -- path` lists them
  /// (history simplification: a merge whose result equals one parent is skipped).
  /// Empty `path` = every commit.
  std::vector<CommitInfo> log(const std::string& from, const std::string& path) const;
  /// The same from several starting commits (`git log A B -- path`): each commit once.
  std::vector<CommitInfo> log(const std::vector<std::string>& from, const std::string& path) const;
  CommitInfo commit_info(const std::string& id) const;
  /// Ids of the commits reachable from `from` but not from `hide` nor from any ref matching
  /// `hide_glob` (e.g. "refs/remotes/origin/*"; "" = none), as `git rev-list FROM --not HIDE`.
  /// Ids in `hide` that this repository does not have are ignored.
  std::vector<std::string> rev_list(const std::vector<std::string>& from, const std::vector<std::string>& hide,
                                    const std::string& hide_glob) const;

  /// `git checkout <commit> -- <paths>`: writes the paths' contents at `commit` to the index
  /// and the work tree (forcefully), removing paths absent at commit.
  void checkout_paths(const std::string& commit, const std::vector<std::string>& paths);
  /// `git checkout <rev>`: safe checkout of the tree (refuses to overwrite local changes,
  /// like git), then moves HEAD: to the branch when `rev` is a local branch name, detached
  /// otherwise.
  void switch_to(const std::string& rev);

  /// The work tree path of a repo-relative path.
  fs::path abs(const std::string& rel) const { return workdir_ / fs::path(rel); }
  /// Repo-relative form of an absolute or cwd-relative path; throws when outside the work tree.
  std::string rel(const fs::path& p) const;

  // --- reachability (push --all-commits, gc) ---------------------------------------------
  /// Commits that every ref points at (branches, tags peeled, remote-tracking refs,
  /// refs/stash, notes, ...) and HEAD, deduplicated. Refs that do not lead to a commit are skipped.
  std::vector<std::string> ref_commits() const;
  /// The commits HEAD, every branch (local and remote-tracking) and every tag (peeled) point
  /// at, deduplicated: the starting points of `git log --branches --remotes --tags HEAD`.
  std::vector<std::string> branch_and_tag_commits() const;
  /// Every local branch and remote-tracking branch with the commit it points at: (full ref
  /// name, commit id), sorted by name; symbolic refs (refs/remotes/origin/HEAD) skipped.
  std::vector<std::pair<std::string, std::string>> branch_tips() const;
  /// `git fetch` of every configured git remote with its configured refspecs (tags following),
  /// so that remote-tracking refs are current. Returns the remotes' names. Throws
  /// Exit::failure naming the remote when one cannot be fetched.
  std::vector<std::string> fetch_all_remotes();
  /// ref_commits() plus every commit recorded in any reflog (HEAD's and each ref's, so every
  /// stash entry too) — what `git gc` keeps alive.
  std::vector<std::string> gc_root_commits() const;
  /// A blob found in a tree or the index: its path (one of them), id and contents.
  struct FoundBlob {
    std::string path;
    std::string id;
    std::string content;
  };
  /// Blobs whose name ends with `suffix` in the trees of `commits` (and, when `history`, of
  /// every commit reachable from them), each distinct blob once. Trees already seen are not
  /// walked again, so the cost grows with the distinct trees, not the commits.
  std::vector<FoundBlob> blobs_with_suffix(const std::vector<std::string>& commits, const std::string& suffix,
                                           bool history) const;
  /// Blobs in the index (stage 0 and conflict stages) whose name ends with `suffix`.
  std::vector<FoundBlob> index_blobs_with_suffix(const std::string& suffix) const;
  /// Blobs whose name ends with `suffix` in the index file `index` (another worktree's), each
  /// distinct blob once.
  std::vector<FoundBlob> index_file_blobs_with_suffix(const fs::path& index, const std::string& suffix) const;

  /// Absolute hooks directory git uses: core.hooksPath (relative to the work tree) when set,
  /// else the common git directory's hooks/ (shared by all worktrees).
  fs::path hooks_dir() const;
  /// A merge, rebase, cherry-pick, revert or bisect in progress.
  RepoState state() const;
  /// The repository's own config file, `<commondir>/config` (`git config --local`).
  fs::path config_file() const { return commondir() / "config"; }

 private:
  friend class IndexLock;
  explicit Repo(git_repository* r);
  /// Ids of the commits reachable from `from` but not from `hide` or refs matching
  /// `hide_glob`, newest first (topological + time): libgit2's revwalk, or -- in a shallow
  /// clone, which libgit2 1.5 cannot walk past the boundary -- mvc's own walk that stops at
  /// the shallow commits (sorted by commit time, children before parents).
  std::vector<std::string> walk(const std::vector<std::string>& from, const std::vector<std::string>& hide,
                                const std::string& hide_glob) const;
  /// The parents of commit `id` that this repository has (none past the shallow boundary).
  std::vector<std::string> parents_here(const std::string& id) const;
  /// Makes `path` the index this Repo reads and writes ("" = libgit2's default).
  void bind_index(const fs::path& path);
  git_repository* repo_ = nullptr;
  fs::path workdir_;
  fs::path index_file_;                                   ///< "" = <gitdir>/index
  mutable std::optional<std::set<std::string>> shallow_;  ///< <commondir>/shallow, read once
  const std::set<std::string>& shallow_commits() const;
  /// (git dir, work tree or "") of every other worktree: other_worktrees() without reading them.
  std::vector<std::pair<fs::path, fs::path>> other_worktree_dirs() const;
  /// The distinct blobs of `index` (every stage) whose name ends with `suffix`.
  std::vector<FoundBlob> suffix_blobs_in(git_index* index, const std::string& suffix) const;
};

// --- git config files ---------------------------------------------------------------------
// One config file, read and written with libgit2 (as `git config --file F` does): the
// repository's own `<commondir>/config` (Repo::config_file) or the global one. Nothing else
// (the system file, includes) is read, so a value found is the one in that file.

/// The value of `key` ("diff.mvc.textconv") in the config file `file`, nullopt when unset or
/// when the file does not exist.
std::optional<std::string> config_get(const fs::path& file, const std::string& key);
/// Sets `key` to `value` in `file` (created when absent).
void config_set(const fs::path& file, const std::string& key, const std::string& value);
/// Removes `key` from `file`, and its section header when nothing is left in the section.
/// Returns false when it was not set.
bool config_unset(const fs::path& file, const std::string& key);
/// The global config file git reads and `git config --global` writes: $GIT_CONFIG_GLOBAL when
/// set, else `$XDG_CONFIG_HOME/git/config` (default `~/.config/git/config`) when only that one
/// exists, else `~/.gitconfig`.
fs::path global_config_file();

/// Git's own index lock, held as `git commit` holds it, from reading the index to writing the
/// commit. The constructor takes `<index>.mvc.lock`, mvc's lock naming its holder (pid and
/// host, so that a second mvc waiting for it can name the first), then `<index>.lock` (both
/// util::FileLock: O_EXCL, waiting with backoff, Exit::lock naming the file and its holder
/// after the timeout; a lock left by a crashed git is never broken, as git never breaks it),
/// copies the index into the latter and makes it the index of
/// `repo`: stage(), unstage_remove(), read_index_blob() and commit_index() then read and write
/// the lock file, and hooks see it through GIT_INDEX_FILE=lock_path(). Other mvc processes and
/// git commands that write the index wait or fail meanwhile. commit() renames the lock file over
/// the index; destruction without commit() removes it, leaving the index byte for byte as it
/// was. Throws, before anything changes, Exit::failure for an index mvc cannot use: a split
/// index (core.splitIndex, `git update-index --split-index`), which libgit2 cannot read or
/// write, or any other index libgit2 rejects.
class IndexLock {
 public:
  explicit IndexLock(Repo& repo);
  ~IndexLock();
  IndexLock(const IndexLock&) = delete;
  IndexLock& operator=(const IndexLock&) = delete;

  /// `<index>.lock`, absolute: the value of GIT_INDEX_FILE for hooks run under the lock.
  const fs::path& lock_path() const;
  /// Re-reads the lock file, after a hook may have changed it (`git add` in a pre-commit hook,
  /// as `git commit` re-reads it). Throws Exit::failure when the hook removed it.
  void reload();
  /// Writes the index (with the tree cache commit_index() computed) into the lock file and
  /// renames it over the index. The lock is released.
  void commit();

 private:
  Repo& repo_;
  fs::path previous_;                         ///< the index binding to restore
  std::unique_ptr<util::FileLock> mvc_lock_;  ///< <index>.mvc.lock
  std::unique_ptr<util::FileLock> lock_;      ///< <index>.lock, git's
  bool committed_ = false;
};

}  // namespace mvc::git
