#include "git/repo.h"

#include <fnmatch.h>
#include <git2.h>
#include <git2/sys/repository.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <set>

#include "mvc/error.h"
#include "util/fs.h"
#include "util/lock.h"
#include "util/text.h"

namespace mvc::git {

namespace {

template <typename T, void (*F)(T*)>
struct Deleter {
  void operator()(T* p) const {
    if (p) F(p);
  }
};
template <typename T, void (*F)(T*)>
using Ptr = std::unique_ptr<T, Deleter<T, F>>;

using ObjectPtr = Ptr<git_object, git_object_free>;
using TreePtr = Ptr<git_tree, git_tree_free>;
using CommitPtr = Ptr<git_commit, git_commit_free>;
using IndexPtr = Ptr<git_index, git_index_free>;
using RefPtr = Ptr<git_reference, git_reference_free>;
using SigPtr = Ptr<git_signature, git_signature_free>;
using WalkPtr = Ptr<git_revwalk, git_revwalk_free>;
using EntryPtr = Ptr<git_tree_entry, git_tree_entry_free>;
using BlobPtr = Ptr<git_blob, git_blob_free>;
using ConfigPtr = Ptr<git_config, git_config_free>;

[[noreturn]] void fail(const std::string& what, Exit code = Exit::failure) {
  const git_error* e = git_error_last();
  std::string why = e && e->message ? e->message : "unknown libgit2 error";
  throw Error(code, what + ": " + why);
}

void check(int rc, const std::string& what) {
  if (rc < 0) fail(what);
}

std::vector<std::string> index_extensions(const std::string& b);

/// The error for an index git split (core.splitIndex), which libgit2 cannot read or write.
Error split_index_error(const fs::path& index) {
  return Error(Exit::failure, index.string() +
                                  ": a split index (core.splitIndex, git update-index --split-index), which mvc "
                                  "cannot read or write; nothing changed (run 'git config core.splitIndex false' "
                                  "and 'git update-index --no-split-index', then retry)");
}

bool is_split_index(const std::string& bytes) {
  for (const std::string& ext : index_extensions(bytes))
    if (ext == "link") return true;
  return false;
}

IndexPtr open_index(git_repository* repo) {
  git_index* i = nullptr;
  if (git_repository_index(&i, repo) < 0) {
    const git_error* e = git_error_last();
    std::string why = e && e->message ? e->message : "";
    fs::path f = fs::path(git_repository_path(repo)) / "index";
    std::error_code ec;
    if (fs::is_regular_file(f, ec) && is_split_index(util::read_file(f))) throw split_index_error(f);
    throw Error(Exit::failure, "cannot read the index: " + (why.empty() ? "unknown libgit2 error" : why));
  }
  return IndexPtr(i);
}

std::string oid_hex(const git_oid* oid) {
  char buf[GIT_OID_HEXSZ + 1];
  git_oid_tostr(buf, sizeof buf, oid);
  return buf;
}

git_oid parse_oid(const std::string& hex) {
  git_oid oid;
  if (git_oid_fromstr(&oid, hex.c_str()) < 0) throw Error(Exit::failure, "invalid object id '" + hex + "'");
  return oid;
}

CommitPtr lookup_commit(git_repository* r, const std::string& id) {
  git_oid oid = parse_oid(id);
  git_commit* c = nullptr;
  check(git_commit_lookup(&c, r, &oid), "cannot read commit " + id);
  return CommitPtr(c);
}

TreePtr commit_tree(git_repository* r, const std::string& id) {
  CommitPtr c = lookup_commit(r, id);
  git_tree* t = nullptr;
  check(git_commit_tree(&t, c.get()), "cannot read tree of commit " + id);
  return TreePtr(t);
}

CommitInfo info_of(const git_commit* c) {
  CommitInfo ci;
  ci.id = oid_hex(git_commit_id(c));
  ci.short_id = ci.id.substr(0, 7);
  const git_signature* a = git_commit_author(c);
  ci.author_name = a->name ? a->name : "";
  ci.author_email = a->email ? a->email : "";
  ci.time = a->when.time;
  ci.offset_minutes = a->when.offset;
  const char* summary = git_commit_summary(const_cast<git_commit*>(c));
  ci.summary = summary ? summary : "";
  const char* msg = git_commit_message(c);
  ci.message = msg ? msg : "";
  for (unsigned i = 0; i < git_commit_parentcount(c); ++i) ci.parents.push_back(oid_hex(git_commit_parent_id(c, i)));
  return ci;
}

// Identity as git reads it: GIT_<ROLE>_NAME/EMAIL/DATE override the configuration.
SigPtr identity(git_repository* r, const char* role) {
  std::string p = std::string("GIT_") + role + "_";
  const char* name = std::getenv((p + "NAME").c_str());
  const char* email = std::getenv((p + "EMAIL").c_str());
  git_signature* def = nullptr;
  int rc = git_signature_default(&def, r);
  SigPtr d(def);
  std::string n, e;
  if (rc == 0) {
    n = d->name;
    e = d->email;
  }
  if (name && *name) n = name;
  if (email && *email) e = email;
  if (n.empty() || e.empty())
    throw Error(Exit::failure,
                "author identity unknown: set it with git config user.name \"Your Name\" and "
                "git config user.email you@example.com");
  git_signature* s = nullptr;
  const char* date = std::getenv((p + "DATE").c_str());
  if (date && *date) {
    // Accept "<seconds> <+hhmm>" (git's internal format), the form tests use.
    char* end = nullptr;
    long long t = std::strtoll(date, &end, 10);
    int off = 0;
    if (end && *end == ' ') {
      int v = std::atoi(end + 1);
      off = (v / 100) * 60 + (v % 100);
    }
    check(git_signature_new(&s, n.c_str(), e.c_str(), t, off), "invalid identity");
  } else {
    check(git_signature_now(&s, n.c_str(), e.c_str()), "invalid identity");
  }
  return SigPtr(s);
}

}  // namespace

void ensure_init() {
  static std::once_flag once;
  std::call_once(once, [] { git_libgit2_init(); });
}

Repo::Repo(git_repository* r) : repo_(r) {
  const char* wd = git_repository_workdir(r);
  std::string w = wd ? wd : "";
  while (w.size() > 1 && w.back() == '/') w.pop_back();
  workdir_ = fs::path(w);
}

Repo::Repo(Repo&& o) noexcept : repo_(o.repo_), workdir_(std::move(o.workdir_)), index_file_(std::move(o.index_file_)) {
  o.repo_ = nullptr;
}
Repo& Repo::operator=(Repo&& o) noexcept {
  if (this != &o) {
    if (repo_) git_repository_free(repo_);
    repo_ = o.repo_;
    workdir_ = std::move(o.workdir_);
    index_file_ = std::move(o.index_file_);
    o.repo_ = nullptr;
  }
  return *this;
}
Repo::~Repo() {
  if (repo_) git_repository_free(repo_);
}

Repo Repo::discover(const fs::path& start) {
  ensure_init();
  git_repository* r = nullptr;
  std::error_code ec;
  fs::path s = fs::absolute(start, ec);
  if (git_repository_open_ext(&r, s.c_str(), 0, nullptr) < 0)
    throw Error(Exit::not_repo, s.string() + ": not a git repository (or any of the parent directories)");
  if (git_repository_is_bare(r)) {
    git_repository_free(r);
    throw Error(Exit::not_repo, s.string() + ": a bare git repository has no work tree");
  }
  Repo repo(r);
  // Git's hooks for a commit (pre-commit, commit-msg, ...) get the index being committed in
  // GIT_INDEX_FILE; libgit2 reads it only when asked.
  if (const char* f = std::getenv("GIT_INDEX_FILE"); f && *f) repo.bind_index(fs::absolute(f, ec));
  return repo;
}

fs::path Repo::gitdir() const { return fs::path(git_repository_path(repo_)); }

fs::path Repo::commondir() const { return fs::path(git_repository_commondir(repo_)).lexically_normal(); }

const std::set<std::string>& Repo::shallow_commits() const {
  if (!shallow_) {
    shallow_.emplace();
    std::error_code ec;
    fs::path f = commondir() / "shallow";
    std::string text = fs::is_regular_file(f, ec) ? util::read_file(f) : "";
    for (std::string_view line : util::split_lines(text))  // views into `text`
      if (line.size() == 40) shallow_->emplace(line);
  }
  return *shallow_;
}

bool Repo::is_shallow() const { return !shallow_commits().empty(); }

namespace {

/// "<old> <new> <who> <when>\t<message>" lines of a reflog file: every id in it.
void reflog_commits(const fs::path& f, std::vector<std::string>& out) {
  std::error_code ec;
  if (!fs::is_regular_file(f, ec)) return;
  std::string text = util::read_file(f);
  for (std::string_view line : util::split_lines(text))  // views into `text`
    if (line.size() >= 81) {
      out.emplace_back(line.substr(0, 40));
      out.emplace_back(line.substr(41, 40));
    }
}

/// The first line of a small file of git's (HEAD, gitdir), "" when it is absent.
std::string read_first_line(const fs::path& f) {
  std::error_code ec;
  return fs::is_regular_file(f, ec) ? util::first_line(util::read_file(f)) : std::string();
}

}  // namespace

std::vector<std::pair<fs::path, fs::path>> Repo::other_worktree_dirs() const {
  std::vector<std::pair<fs::path, fs::path>> out;
  std::error_code ec;
  auto strip = [](fs::path p) { return p.filename().empty() ? p.parent_path() : p; };
  const fs::path common = strip(fs::path(git_repository_commondir(repo_)).lexically_normal());
  const fs::path mine = fs::path(git_repository_path(repo_)).lexically_normal();
  auto add = [&](const fs::path& gitdir, const fs::path& workdir) {
    if (!fs::equivalent(gitdir, mine, ec)) out.emplace_back(gitdir, workdir);
  };
  // The main worktree: the common dir itself. Its work tree is the parent of a `.git`
  // directory; elsewhere (--separate-git-dir, a submodule) git records it in core.worktree, or
  // not at all, and the git dir alone still tells HEAD, reflog and index.
  add(common, common.filename() == ".git" ? common.parent_path() : fs::path());
  // Linked worktrees, locked or with their directory gone included: git keeps their objects.
  for (fs::directory_iterator it(common / "worktrees", ec), end; !ec && it != end; it.increment(ec)) {
    fs::path gd = it->path();
    if (!fs::is_regular_file(gd / "HEAD", ec)) continue;
    fs::path dotgit(read_first_line(gd / "gitdir"));  // "<workdir>/.git"
    add(gd, !dotgit.empty() && fs::exists(dotgit, ec) ? dotgit.parent_path() : fs::path());
  }
  return out;
}

std::vector<Repo::OtherWorktree> Repo::other_worktrees() const {
  std::vector<OtherWorktree> out;
  std::error_code ec;
  for (const auto& [gitdir, workdir] : other_worktree_dirs()) {
    OtherWorktree w;
    w.gitdir = gitdir;
    w.workdir = workdir;
    std::string head = read_first_line(gitdir / "HEAD");
    std::optional<std::string> c;
    if (head.rfind("ref: ", 0) == 0)
      c = try_resolve_commit(head.substr(5));
    else if (head.size() == 40)
      c = try_resolve_commit(head);
    if (c) w.commits.push_back(*c);
    std::vector<std::string> logged;
    reflog_commits(gitdir / "logs" / "HEAD", logged);
    std::set<std::string> seen(w.commits.begin(), w.commits.end());
    for (auto& id : logged) {
      if (id.find_first_not_of('0') == std::string::npos || !seen.insert(id).second) continue;
      git_oid oid;
      git_commit* cm = nullptr;
      if (git_oid_fromstr(&oid, id.c_str()) == 0 && git_commit_lookup(&cm, repo_, &oid) == 0) {  // pruned ones skipped
        git_commit_free(cm);
        w.commits.push_back(id);
      }
    }
    if (fs::is_regular_file(gitdir / "index", ec)) w.index = gitdir / "index";
    out.push_back(std::move(w));
  }
  return out;
}

void Repo::check_switch(const std::string& rev) const {
  git_reference* branch = nullptr;
  if (git_branch_lookup(&branch, repo_, rev.c_str(), GIT_BRANCH_LOCAL) != 0) return;
  RefPtr b(branch);
  if (head_branch() == rev) return;
  // Only the other worktrees' HEAD files: no reflog, no commit lookups on the checkout path.
  for (const auto& [gitdir, workdir] : other_worktree_dirs())
    if (read_first_line(gitdir / "HEAD") == std::string("ref: ") + git_reference_name(b.get()))
      throw Error(Exit::failure, "cannot check out '" + rev + "': it is already checked out at " +
                                     (workdir.empty() ? gitdir.string() : workdir.string()) +
                                     " (git worktree list); nothing changed");
}

std::vector<std::string> Repo::parents_here(const std::string& id) const {
  std::vector<std::string> out;
  if (shallow_commits().count(id)) return out;
  CommitPtr c = lookup_commit(repo_, id);
  for (unsigned k = 0; k < git_commit_parentcount(c.get()); ++k)
    out.push_back(oid_hex(git_commit_parent_id(c.get(), k)));
  return out;
}

std::vector<std::string> Repo::walk(const std::vector<std::string>& from, const std::vector<std::string>& hide,
                                    const std::string& hide_glob) const {
  auto present = [&](const std::string& id) {
    git_oid oid = parse_oid(id);
    git_object* o = nullptr;
    if (git_object_lookup(&o, repo_, &oid, GIT_OBJECT_COMMIT) < 0) return false;
    git_object_free(o);
    return true;
  };
  std::vector<std::string> hidden_tips;
  for (auto& h : hide)
    if (present(h)) hidden_tips.push_back(h);  // ids this repository does not have are ignored
  if (!is_shallow()) {
    git_revwalk* w = nullptr;
    check(git_revwalk_new(&w, repo_), "cannot walk history");
    WalkPtr rw(w);
    git_revwalk_sorting(rw.get(), GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME);
    for (auto& f : from) {
      git_oid oid = parse_oid(f);
      check(git_revwalk_push(rw.get(), &oid), "cannot walk history from " + f);
    }
    for (auto& h : hidden_tips) {
      git_oid oid = parse_oid(h);
      check(git_revwalk_hide(rw.get(), &oid), "cannot hide " + h);
    }
    if (!hide_glob.empty()) git_revwalk_hide_glob(rw.get(), hide_glob.c_str());  // no match is fine
    std::vector<std::string> out;
    git_oid oid;
    while (git_revwalk_next(&oid, rw.get()) == 0) out.push_back(oid_hex(&oid));
    return out;
  }
  // Shallow: walk the parent links ourselves, stopping at the shallow commits.
  if (!hide_glob.empty()) {
    git_strarray names{};
    if (git_reference_list(&names, repo_) == 0) {
      for (std::size_t i = 0; i < names.count; ++i) {
        std::string n = names.strings[i];
        if (::fnmatch(hide_glob.c_str(), n.c_str(), 0) == 0)
          if (auto c = try_resolve_commit(n)) hidden_tips.push_back(*c);
      }
      git_strarray_dispose(&names);
    }
  }
  auto reach = [&](const std::vector<std::string>& tips, const std::set<std::string>& stop) {
    std::map<std::string, std::int64_t> seen;  // id -> commit time
    std::vector<std::string> todo;
    for (auto& t : tips)
      if (!stop.count(t)) todo.push_back(t);
    while (!todo.empty()) {
      std::string id = todo.back();
      todo.pop_back();
      if (seen.count(id) || stop.count(id)) continue;
      CommitPtr c = lookup_commit(repo_, id);
      seen[id] = static_cast<std::int64_t>(git_commit_time(c.get()));
      for (auto& p : parents_here(id))
        if (!seen.count(p)) todo.push_back(p);
    }
    return seen;
  };
  std::set<std::string> none, hidden;
  for (auto& [id, t] : reach(hidden_tips, none)) hidden.insert(id);
  auto found = reach(from, hidden);
  // Newest first; a parent never before its child (Kahn's algorithm over the found commits,
  // taking the newest ready commit first).
  std::map<std::string, int> children;
  for (auto& [id, t] : found)
    for (auto& p : parents_here(id))
      if (found.count(p)) ++children[p];
  using Item = std::pair<std::int64_t, std::string>;
  std::set<Item> ready;
  for (auto& [id, t] : found)
    if (!children.count(id)) ready.insert({t, id});
  std::vector<std::string> out;
  while (!ready.empty()) {
    Item it = *ready.rbegin();
    ready.erase(std::prev(ready.end()));
    out.push_back(it.second);
    for (auto& p : parents_here(it.second))
      if (found.count(p) && --children[p] == 0) ready.insert({found[p], p});
  }
  return out;
}

fs::path Repo::index_file() const { return index_file_.empty() ? gitdir() / "index" : index_file_; }

void Repo::bind_index(const fs::path& path) {
  if (path.empty()) {
    git_repository_set_index(repo_, nullptr);  // the default index is loaded again on next use
  } else {
    git_index* i = nullptr;
    check(git_index_open(&i, path.c_str()), "cannot read the index " + path.string());
    IndexPtr index(i);
    check(git_repository_set_index(repo_, index.get()), "cannot use the index " + path.string());
  }
  index_file_ = path;
}

std::optional<std::string> Repo::try_resolve_commit(const std::string& rev) const {
  git_object* obj = nullptr;
  if (git_revparse_single(&obj, repo_, rev.c_str()) < 0) return std::nullopt;
  ObjectPtr o(obj);
  git_object* peeled = nullptr;
  if (git_object_peel(&peeled, o.get(), GIT_OBJECT_COMMIT) < 0) return std::nullopt;
  ObjectPtr p(peeled);
  return oid_hex(git_object_id(p.get()));
}

std::string Repo::resolve_commit(const std::string& rev) const {
  auto id = try_resolve_commit(rev);
  if (!id) throw Error(Exit::usage, "unknown revision '" + rev + "'");
  return *id;
}

bool Repo::head_unborn() const { return git_repository_head_unborn(repo_) == 1; }

std::optional<std::string> Repo::head_branch() const {
  git_reference* head = nullptr;
  if (git_reference_lookup(&head, repo_, "HEAD") < 0) return std::nullopt;
  RefPtr h(head);
  if (git_reference_type(h.get()) != GIT_REFERENCE_SYMBOLIC) return std::nullopt;
  std::string target = git_reference_symbolic_target(h.get());
  const std::string pfx = "refs/heads/";
  if (target.rfind(pfx, 0) == 0) return target.substr(pfx.size());
  return std::nullopt;
}

std::optional<std::string> Repo::entry_id_at(const std::string& commit, const std::string& path) const {
  TreePtr tree = commit_tree(repo_, commit);
  if (path.empty()) return oid_hex(git_tree_id(tree.get()));
  git_tree_entry* e = nullptr;
  if (git_tree_entry_bypath(&e, tree.get(), path.c_str()) < 0) return std::nullopt;
  EntryPtr entry(e);
  return oid_hex(git_tree_entry_id(entry.get()));
}

std::optional<std::string> Repo::read_blob_at(const std::string& commit, const std::string& path) const {
  TreePtr tree = commit_tree(repo_, commit);
  git_tree_entry* e = nullptr;
  if (git_tree_entry_bypath(&e, tree.get(), path.c_str()) < 0) return std::nullopt;
  EntryPtr entry(e);
  if (git_tree_entry_type(entry.get()) != GIT_OBJECT_BLOB) return std::nullopt;
  git_blob* b = nullptr;
  check(git_blob_lookup(&b, repo_, git_tree_entry_id(entry.get())), "cannot read " + path);
  BlobPtr blob(b);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

std::vector<std::string> Repo::list_dir_at(const std::string& commit, const std::string& dir) const {
  TreePtr root = commit_tree(repo_, commit);
  TreePtr sub;
  git_tree* t = root.get();
  if (!dir.empty()) {
    git_tree_entry* e = nullptr;
    if (git_tree_entry_bypath(&e, root.get(), dir.c_str()) < 0) return {};
    EntryPtr entry(e);
    if (git_tree_entry_type(entry.get()) != GIT_OBJECT_TREE) return {};
    git_tree* st = nullptr;
    check(git_tree_lookup(&st, repo_, git_tree_entry_id(entry.get())), "cannot read tree " + dir);
    sub.reset(st);
    t = st;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < git_tree_entrycount(t); ++i) {
    const git_tree_entry* e = git_tree_entry_byindex(t, i);
    if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) out.push_back(git_tree_entry_name(e));
  }
  return out;
}

std::vector<std::string> Repo::find_files_at(const std::string& commit, const std::string& file_name) const {
  TreePtr tree = commit_tree(repo_, commit);
  struct Ctx {
    const std::string* name;
    std::vector<std::string> out;
  } ctx{&file_name, {}};
  auto cb = [](const char* root, const git_tree_entry* entry, void* payload) -> int {
    auto* c = static_cast<Ctx*>(payload);
    if (git_tree_entry_type(entry) == GIT_OBJECT_BLOB && *c->name == git_tree_entry_name(entry))
      c->out.push_back(std::string(root) + git_tree_entry_name(entry));
    return 0;
  };
  check(git_tree_walk(tree.get(), GIT_TREEWALK_PRE, cb, &ctx), "cannot walk tree of " + commit);
  std::sort(ctx.out.begin(), ctx.out.end());
  return ctx.out;
}

std::optional<std::string> Repo::read_index_blob(const std::string& path) const {
  IndexPtr index = open_index(repo_);
  const git_index_entry* e = git_index_get_bypath(index.get(), path.c_str(), 0);
  if (!e) return std::nullopt;
  git_blob* b = nullptr;
  check(git_blob_lookup(&b, repo_, &e->id), "cannot read staged " + path);
  BlobPtr blob(b);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

namespace {

using FilterListPtr = Ptr<git_filter_list, git_filter_list_free>;

/// `in` through the filters git applies to `rel` in direction `mode`.
std::string apply_filters(git_repository* r, const std::string& rel, git_filter_mode_t mode, const std::string& in) {
  git_filter_list* fl = nullptr;
  // ALLOW_UNSAFE: an irreversible CRLF conversion is git's default warning (core.safecrlf),
  // never a reason to refuse.
  check(git_filter_list_load(&fl, r, nullptr, rel.c_str(), mode, GIT_FILTER_ALLOW_UNSAFE),
        rel + ": cannot load git's filters");
  FilterListPtr filters(fl);
  if (!filters) return in;  // no filter applies
  git_buf out = GIT_BUF_INIT;
  if (git_filter_list_apply_to_buffer(&out, filters.get(), in.data(), in.size()) < 0) {
    git_buf_dispose(&out);
    fail(rel + ": git's filters failed");
  }
  std::string text(out.ptr ? out.ptr : "", out.size);
  git_buf_dispose(&out);
  return text;
}

}  // namespace

std::optional<std::string> Repo::read_worktree_clean(const std::string& rel) const {
  std::error_code ec;
  if (!fs::is_regular_file(abs(rel), ec)) return std::nullopt;
  return apply_filters(repo_, rel, GIT_FILTER_TO_ODB, util::read_file(abs(rel)));
}

bool Repo::worktree_matches(const std::string& rel, const std::optional<std::string>& blob) const {
  return read_worktree_clean(rel) == blob;
}

void Repo::write_worktree(const std::string& rel, const std::string& clean) const {
  util::write_file_atomic(abs(rel), apply_filters(repo_, rel, GIT_FILTER_TO_WORKTREE, clean));
}

std::vector<std::string> Repo::index_paths() const {
  IndexPtr index = open_index(repo_);
  std::vector<std::string> out;
  for (std::size_t k = 0; k < git_index_entrycount(index.get()); ++k) {
    const git_index_entry* e = git_index_get_byindex(index.get(), k);
    if (GIT_INDEX_ENTRY_STAGE(e) == 0) out.push_back(e->path);
  }
  return out;
}

std::vector<std::string> Repo::staged_paths() const {
  IndexPtr index = open_index(repo_);
  TreePtr tree;
  if (!head_unborn()) tree = commit_tree(repo_, resolve_commit("HEAD"));
  git_diff* d = nullptr;
  git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
  check(git_diff_tree_to_index(&d, repo_, tree.get(), index.get(), &opts), "cannot compare the index with HEAD");
  std::unique_ptr<git_diff, Deleter<git_diff, git_diff_free>> diff(d);
  std::vector<std::string> out;
  for (std::size_t k = 0; k < git_diff_num_deltas(d); ++k) {
    const git_diff_delta* delta = git_diff_get_delta(d, k);
    out.push_back(delta->new_file.path ? delta->new_file.path : delta->old_file.path);
  }
  return out;
}

std::vector<std::string> Repo::find_files_in_index(const std::string& file_name) const {
  IndexPtr index = open_index(repo_);
  std::vector<std::string> out;
  for (std::size_t k = 0; k < git_index_entrycount(index.get()); ++k) {
    const git_index_entry* e = git_index_get_byindex(index.get(), k);
    std::string p = e->path;
    auto slash = p.rfind('/');
    std::string base = slash == std::string::npos ? p : p.substr(slash + 1);
    if (base == file_name && GIT_INDEX_ENTRY_STAGE(e) == 0) out.push_back(p);
  }
  return out;
}

void Repo::stage(const std::vector<std::string>& paths) {
  IndexPtr index = open_index(repo_);
  for (const auto& p : paths) {
    std::error_code ec;
    if (fs::exists(abs(p), ec)) {
      check(git_index_add_bypath(index.get(), p.c_str()), "cannot stage " + p);
    } else if (git_index_get_bypath(index.get(), p.c_str(), 0) || git_index_get_bypath(index.get(), p.c_str(), 2) ||
               git_index_get_bypath(index.get(), p.c_str(), 3) || git_index_get_bypath(index.get(), p.c_str(), 1)) {
      check(git_index_remove_bypath(index.get(), p.c_str()), "cannot unstage " + p);
    }
  }
  check(git_index_write(index.get()), "cannot write the index");
}

std::vector<Conflict> Repo::conflicts() const {
  IndexPtr index = open_index(repo_);
  std::vector<Conflict> out;
  if (!git_index_has_conflicts(index.get())) return out;
  git_index_conflict_iterator* it = nullptr;
  check(git_index_conflict_iterator_new(&it, index.get()), "cannot read the index's conflicts");
  const git_index_entry *ancestor = nullptr, *ours = nullptr, *theirs = nullptr;
  int rc = 0;
  while ((rc = git_index_conflict_next(&ancestor, &ours, &theirs, it)) == 0) {
    Conflict c;
    const git_index_entry* any = ancestor ? ancestor : ours ? ours : theirs;
    c.path = any->path;
    if (ancestor) c.ancestor = oid_hex(&ancestor->id);
    if (ours) c.ours = oid_hex(&ours->id);
    if (theirs) c.theirs = oid_hex(&theirs->id);
    out.push_back(std::move(c));
  }
  git_index_conflict_iterator_free(it);
  if (rc != GIT_ITEROVER) fail("cannot read the index's conflicts");
  std::sort(out.begin(), out.end(), [](const Conflict& a, const Conflict& b) { return a.path < b.path; });
  return out;
}

std::string Repo::read_blob(const std::string& id) const {
  git_oid oid = parse_oid(id);
  git_blob* b = nullptr;
  check(git_blob_lookup(&b, repo_, &oid), "cannot read blob " + id);
  BlobPtr blob(b);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

std::optional<std::string> Repo::their_commit() const {
  for (const char* f : {"MERGE_HEAD", "CHERRY_PICK_HEAD", "REBASE_HEAD"}) {
    std::error_code ec;
    fs::path p = gitdir() / f;
    if (!fs::is_regular_file(p, ec)) continue;
    std::string text = util::read_file(p);
    // One commit id per line; several (an octopus merge) name no single "theirs".
    std::size_t nl = text.find('\n');
    if (nl != std::string::npos && text.find_first_not_of("\n", nl) != std::string::npos) return std::nullopt;
    std::string id = text.substr(0, nl);
    return try_resolve_commit(id);
  }
  // `git merge` runs pre-merge-commit before it writes MERGE_HEAD; it exports the merged head
  // as GITHEAD_<id>=<name> (its label for merge-recursive), one variable per head.
  std::optional<std::string> found;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("GITHEAD_", 0) != 0 || v.size() < 8 + 40 || v[8 + 40] != '=') continue;
    if (found) return std::nullopt;  // an octopus merge
    found = try_resolve_commit(std::string(v.substr(8, 40)));
  }
  return found;
}

void Repo::unstage_remove(const std::vector<std::string>& paths) {
  IndexPtr index = open_index(repo_);
  for (const auto& p : paths)
    if (git_index_get_bypath(index.get(), p.c_str(), 0))
      check(git_index_remove_bypath(index.get(), p.c_str()), "cannot unstage " + p);
  check(git_index_write(index.get()), "cannot write the index");
}

std::optional<std::string> Repo::commit_index(const std::string& message) {
  IndexPtr index = open_index(repo_);
  if (git_index_has_conflicts(index.get()))
    throw Error(Exit::failure, "cannot commit: the index has unresolved conflicts");
  git_oid tree_id;
  check(git_index_write_tree(&tree_id, index.get()), "cannot write the tree");
  git_tree* t = nullptr;
  check(git_tree_lookup(&t, repo_, &tree_id), "cannot read the new tree");
  TreePtr tree(t);

  CommitPtr parent;
  if (!head_unborn()) {
    git_oid head_id;
    check(git_reference_name_to_id(&head_id, repo_, "HEAD"), "cannot resolve HEAD");
    parent = lookup_commit(repo_, oid_hex(&head_id));
    if (git_oid_equal(git_commit_tree_id(parent.get()), &tree_id)) return std::nullopt;
  } else if (git_index_entrycount(index.get()) == 0) {
    return std::nullopt;
  }
  SigPtr author = identity(repo_, "AUTHOR");
  SigPtr committer = identity(repo_, "COMMITTER");
  std::string msg = message;
  if (msg.empty() || msg.back() != '\n') msg += '\n';
  const git_commit* parents[1] = {parent.get()};
  git_oid out;
  check(git_commit_create(&out, repo_, "HEAD", author.get(), committer.get(), nullptr, msg.c_str(), tree.get(),
                          parent ? 1 : 0, parents),
        "cannot create the commit");
  return oid_hex(&out);
}

std::optional<std::string> Repo::commit_only(const std::vector<std::string>& paths, const std::string& message) {
  if (head_unborn()) throw Error(Exit::failure, "cannot commit only some paths: HEAD has no commit yet");
  IndexPtr index = open_index(repo_);
  git_oid head_id;
  check(git_reference_name_to_id(&head_id, repo_, "HEAD"), "cannot resolve HEAD");
  CommitPtr parent = lookup_commit(repo_, oid_hex(&head_id));
  git_tree* bt = nullptr;
  check(git_commit_tree(&bt, parent.get()), "cannot read HEAD's tree");
  TreePtr base(bt);
  std::vector<git_tree_update> updates;
  for (const auto& path : paths) {
    git_tree_update u;
    std::memset(&u, 0, sizeof u);
    u.path = path.c_str();
    if (const git_index_entry* e = git_index_get_bypath(index.get(), path.c_str(), 0)) {
      u.action = GIT_TREE_UPDATE_UPSERT;
      u.id = e->id;
      u.filemode = static_cast<git_filemode_t>(e->mode);
    } else {
      git_tree_entry* te = nullptr;
      if (git_tree_entry_bypath(&te, base.get(), path.c_str()) != 0) continue;  // absent on both sides
      git_tree_entry_free(te);
      u.action = GIT_TREE_UPDATE_REMOVE;
    }
    updates.push_back(u);
  }
  git_oid tree_id;
  check(git_tree_create_updated(&tree_id, repo_, base.get(), updates.size(), updates.data()), "cannot write the tree");
  if (git_oid_equal(git_tree_id(base.get()), &tree_id)) return std::nullopt;
  git_tree* t = nullptr;
  check(git_tree_lookup(&t, repo_, &tree_id), "cannot read the new tree");
  TreePtr tree(t);
  SigPtr author = identity(repo_, "AUTHOR");
  SigPtr committer = identity(repo_, "COMMITTER");
  std::string msg = message;
  if (msg.empty() || msg.back() != '\n') msg += '\n';
  const git_commit* parents[1] = {parent.get()};
  git_oid out;
  check(git_commit_create(&out, repo_, "HEAD", author.get(), committer.get(), nullptr, msg.c_str(), tree.get(), 1,
                          parents),
        "cannot create the commit");
  return oid_hex(&out);
}

namespace {

// The signatures of the extensions of an index file (DIRC versions 2-4, SHA-1), read past the
// entries as Documentation/gitformat-index.txt lays them out; empty when the bytes are not
// such an index (libgit2 then reports what is wrong).
std::vector<std::string> index_extensions(const std::string& b) {
  constexpr std::size_t kHeader = 12, kHash = 20;
  auto be32 = [&](std::size_t at) {
    return (std::uint32_t(std::uint8_t(b[at])) << 24) | (std::uint32_t(std::uint8_t(b[at + 1])) << 16) |
           (std::uint32_t(std::uint8_t(b[at + 2])) << 8) | std::uint32_t(std::uint8_t(b[at + 3]));
  };
  if (b.size() < kHeader + kHash || b.compare(0, 4, "DIRC") != 0) return {};
  std::uint32_t version = be32(4), count = be32(8);
  if (version < 2 || version > 4) return {};
  std::size_t end = b.size() - kHash, at = kHeader;
  for (std::uint32_t k = 0; k < count; ++k) {
    std::size_t start = at;
    at += 60;  // stat data (40 bytes) and object id (20)
    if (at + 2 > end) return {};
    std::uint16_t flags = std::uint16_t((std::uint8_t(b[at]) << 8) | std::uint8_t(b[at + 1]));
    at += 2;
    if (version >= 3 && (flags & 0x4000)) at += 2;  // extended flags
    if (version == 4)  // path prefix compression: a varint of bytes to strip, then the rest
      while (at < end && (std::uint8_t(b[at++]) & 0x80)) {
      }
    std::size_t nul = b.find('\0', at);
    if (nul == std::string::npos || nul >= end) return {};
    at = version == 4 ? nul + 1 : start + ((nul - start + 8) & ~std::size_t(7));  // 1-8 NULs pad
  }
  std::vector<std::string> out;
  while (at + 8 <= end) {
    out.push_back(b.substr(at, 4));
    at += 8 + be32(at + 4);
  }
  return out;
}

// An index with no entries (version 2), for when there is no index file yet.
const std::string kEmptyIndex = [] {
  std::string s("DIRC\0\0\0\2\0\0\0\0", 12);
  const unsigned char sha1[20] = {0x39, 0xd8, 0x90, 0x13, 0x9e, 0xe5, 0x35, 0x6c, 0x7e, 0xf5,
                                  0x72, 0x21, 0x6c, 0xeb, 0xcd, 0x27, 0xaa, 0x41, 0xf9, 0xdf};
  s.append(reinterpret_cast<const char*>(sha1), sizeof sha1);
  return s;
}();

}  // namespace

IndexLock::IndexLock(Repo& repo) : repo_(repo), previous_(repo.index_file_) {
  fs::path index = repo.index_file();
  fs::path mvc_target = index;
  mvc_target += ".mvc";
  mvc_lock_ = std::make_unique<util::FileLock>(mvc_target);
  lock_ = std::make_unique<util::FileLock>(index);
  std::error_code ec;
  std::string bytes = fs::exists(index, ec) ? util::read_file(index) : kEmptyIndex;
  if (is_split_index(bytes)) throw split_index_error(index);
  lock_->write(bytes);
  repo.bind_index(lock_->lock_path());  // throws for an index libgit2 cannot read
}

IndexLock::~IndexLock() {
  if (committed_) return;
  try {
    repo_.bind_index(previous_);
  } catch (...) {  // the index is unchanged; a later read reports what is wrong with it
  }
  lock_.reset();  // removes the lock file: the index is as it was
  mvc_lock_.reset();
}

const fs::path& IndexLock::lock_path() const { return lock_->lock_path(); }

void IndexLock::reload() {
  std::error_code ec;
  if (!fs::exists(lock_path(), ec))
    throw Error(Exit::failure, lock_path().string() + ": removed by a hook while mvc held it; nothing committed");
  IndexPtr index = open_index(repo_.repo_);
  check(git_index_read(index.get(), 1), "cannot read the index " + lock_path().string());
}

void IndexLock::commit() {
  {
    IndexPtr index = open_index(repo_.repo_);
    check(git_index_write(index.get()), "cannot write the index " + lock_path().string());
  }
  lock_->commit_as_is();
  committed_ = true;
  mvc_lock_.reset();
  repo_.bind_index(previous_);
}

bool Repo::valid_tag_name(const std::string& name) {
  ensure_init();
  if (name.empty() || name[0] == '-') return false;
  int valid = 0;
  std::string ref = "refs/tags/" + name;
  if (git_reference_name_is_valid(&valid, ref.c_str()) < 0) return false;
  return valid == 1;
}

bool Repo::tag_exists(const std::string& name) const {
  git_reference* r = nullptr;
  std::string ref = "refs/tags/" + name;
  if (git_reference_lookup(&r, repo_, ref.c_str()) < 0) return false;
  git_reference_free(r);
  return true;
}

void Repo::create_tag(const std::string& name, const std::string& commit, const std::string& message) {
  git_oid oid = parse_oid(commit);
  git_object* o = nullptr;
  check(git_object_lookup(&o, repo_, &oid, GIT_OBJECT_COMMIT), "cannot read commit " + commit);
  ObjectPtr target(o);
  SigPtr tagger = identity(repo_, "COMMITTER");
  std::string msg = message;
  if (msg.empty() || msg.back() != '\n') msg += '\n';
  git_oid out;
  check(git_tag_create(&out, repo_, name.c_str(), target.get(), tagger.get(), msg.c_str(), 0),
        "cannot create tag '" + name + "'");
}

std::vector<std::pair<std::string, std::string>> Repo::tags() const {
  std::vector<std::pair<std::string, std::string>> out;
  struct Ctx {
    git_repository* repo;
    std::vector<std::pair<std::string, std::string>>* out;
  } ctx{repo_, &out};
  auto cb = [](const char* name, git_oid* oid, void* payload) -> int {
    auto* c = static_cast<Ctx*>(payload);
    git_object* o = nullptr;
    if (git_object_lookup(&o, c->repo, oid, GIT_OBJECT_ANY) < 0) return 0;
    ObjectPtr obj(o);
    git_object* peeled = nullptr;
    if (git_object_peel(&peeled, obj.get(), GIT_OBJECT_COMMIT) < 0) return 0;
    ObjectPtr p(peeled);
    std::string n = name;
    const std::string pfx = "refs/tags/";
    if (n.rfind(pfx, 0) == 0) n = n.substr(pfx.size());
    c->out->emplace_back(n, oid_hex(git_object_id(p.get())));
    return 0;
  };
  git_tag_foreach(repo_, cb, &ctx);
  std::sort(out.begin(), out.end());
  return out;
}

CommitInfo Repo::commit_info(const std::string& id) const {
  CommitPtr c = lookup_commit(repo_, id);
  return info_of(c.get());
}

std::vector<CommitInfo> Repo::log(const std::string& from, const std::string& path) const {
  return log(std::vector<std::string>{from}, path);
}

std::vector<CommitInfo> Repo::log(const std::vector<std::string>& from, const std::string& path) const {
  std::vector<CommitInfo> out;
  for (const std::string& id : walk(from, {}, "")) {
    CommitPtr c = lookup_commit(repo_, id);
    if (!path.empty()) {
      auto mine = entry_id_at(id, path);
      std::vector<std::string> parents = parents_here(id);  // none past a shallow boundary
      bool treesame = false;
      if (parents.empty()) {
        treesame = !mine.has_value();
      } else {
        for (std::size_t k = 0; k < parents.size() && !treesame; ++k)
          treesame = (entry_id_at(parents[k], path) == mine);
      }
      if (treesame) continue;
    }
    out.push_back(info_of(c.get()));
  }
  return out;
}

std::vector<std::string> Repo::rev_list(const std::vector<std::string>& from, const std::vector<std::string>& hide,
                                        const std::string& hide_glob) const {
  return walk(from, hide, hide_glob);
}

void Repo::checkout_paths(const std::string& commit, const std::vector<std::string>& paths) {
  if (paths.empty()) return;
  TreePtr tree = commit_tree(repo_, commit);
  std::vector<const char*> ps;
  for (auto& p : paths) ps.push_back(p.c_str());
  git_checkout_options opts;
  git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
  opts.checkout_strategy = GIT_CHECKOUT_FORCE | GIT_CHECKOUT_DISABLE_PATHSPEC_MATCH;
  opts.paths.strings = const_cast<char**>(ps.data());
  opts.paths.count = ps.size();
  check(git_checkout_tree(repo_, reinterpret_cast<git_object*>(tree.get()), &opts),
        "cannot check out files from " + commit.substr(0, 7));
  // git_checkout_tree with a pathspec leaves paths that are absent at `commit` alone:
  // remove those from the index and the work tree, as `git checkout <rev> -- <path>` for a
  // directory would (files only in the index).
  std::vector<std::string> gone;
  for (auto& p : paths)
    if (!read_blob_at(commit, p) && read_index_blob(p)) gone.push_back(p);
  if (!gone.empty()) {
    unstage_remove(gone);
    for (auto& p : gone) {
      std::error_code ec;
      fs::remove(abs(p), ec);
    }
  }
}

void Repo::switch_to(const std::string& rev) {
  check_switch(rev);
  std::string commit = resolve_commit(rev);
  CommitPtr c = lookup_commit(repo_, commit);
  git_checkout_options opts;
  git_checkout_options_init(&opts, GIT_CHECKOUT_OPTIONS_VERSION);
  opts.checkout_strategy = GIT_CHECKOUT_SAFE;
  std::vector<std::string> conflicts;  // named in the error, as git names them
  opts.notify_flags = GIT_CHECKOUT_NOTIFY_CONFLICT;
  opts.notify_cb = [](git_checkout_notify_t, const char* path, const git_diff_file*, const git_diff_file*,
                      const git_diff_file*, void* payload) -> int {
    static_cast<std::vector<std::string>*>(payload)->push_back(path);
    return 0;
  };
  opts.notify_payload = &conflicts;
  int rc = git_checkout_tree(repo_, reinterpret_cast<git_object*>(c.get()), &opts);
  if (rc < 0 && !conflicts.empty()) {
    std::string names;
    for (std::size_t i = 0; i < conflicts.size() && i < 10; ++i) names += (i ? ", " : "") + conflicts[i];
    if (conflicts.size() > 10) names += ", ... (" + std::to_string(conflicts.size()) + " files)";
    throw Error(Exit::failure, "cannot check out '" + rev + "': local changes to " + names +
                                   " would be overwritten; commit or stash them first");
  }
  check(rc, "cannot check out '" + rev + "'");
  git_reference* branch = nullptr;
  if (git_branch_lookup(&branch, repo_, rev.c_str(), GIT_BRANCH_LOCAL) == 0) {
    RefPtr b(branch);
    check(git_repository_set_head(repo_, git_reference_name(b.get())), "cannot move HEAD to " + rev);
  } else {
    git_oid oid = parse_oid(commit);
    check(git_repository_set_head_detached(repo_, &oid), "cannot move HEAD to " + rev);
  }
}

std::string Repo::rel(const fs::path& p) const {
  std::error_code ec;
  fs::path a = fs::weakly_canonical(fs::absolute(p, ec), ec);
  fs::path root = fs::weakly_canonical(workdir_, ec);
  fs::path r = a.lexically_relative(root);
  std::string s = r.generic_string();
  if (r.empty() || s == ".") return "";
  if (s.rfind("..", 0) == 0) throw Error(Exit::usage, p.string() + ": outside the repository at " + workdir_.string());
  return s;
}

fs::path Repo::hooks_dir() const {
  git_config* c = nullptr;
  if (git_repository_config_snapshot(&c, repo_) == 0) {
    ConfigPtr cfg(c);
    git_buf buf = GIT_BUF_INIT;
    if (git_config_get_path(&buf, cfg.get(), "core.hooksPath") == 0) {
      fs::path p(buf.ptr);
      git_buf_dispose(&buf);
      return p.is_absolute() ? p : workdir_ / p;
    }
  }
  // Worktrees share the main repository's hooks.
  return fs::path(git_repository_commondir(repo_)) / "hooks";
}

RepoState Repo::state() const {
  switch (git_repository_state(repo_)) {
    case GIT_REPOSITORY_STATE_NONE:
      return RepoState::none;
    case GIT_REPOSITORY_STATE_MERGE:
      return RepoState::merge;
    case GIT_REPOSITORY_STATE_BISECT:
      return RepoState::bisect;
    case GIT_REPOSITORY_STATE_CHERRYPICK:
    case GIT_REPOSITORY_STATE_CHERRYPICK_SEQUENCE:
      return RepoState::cherry_pick;
    case GIT_REPOSITORY_STATE_REVERT:
    case GIT_REPOSITORY_STATE_REVERT_SEQUENCE:
      return RepoState::revert;
    default:
      return RepoState::rebase;
  }
}

}  // namespace mvc::git

namespace mvc::git {

namespace {

bool has_suffix(const char* name, const std::string& suffix) {
  std::size_t n = std::strlen(name);
  return n > suffix.size() && std::memcmp(name + n - suffix.size(), suffix.data(), suffix.size()) == 0;
}

std::string blob_text(git_repository* r, const git_oid* id, const std::string& what) {
  git_blob* b = nullptr;
  check(git_blob_lookup(&b, r, id), "cannot read " + what);
  BlobPtr blob(b);
  return std::string(static_cast<const char*>(git_blob_rawcontent(blob.get())),
                     static_cast<std::size_t>(git_blob_rawsize(blob.get())));
}

}  // namespace

std::vector<std::string> Repo::ref_commits() const {
  std::set<std::string> out;
  if (auto head = try_resolve_commit("HEAD")) out.insert(*head);
  git_reference_iterator* it = nullptr;
  check(git_reference_iterator_new(&it, repo_), "cannot list references");
  git_reference* ref = nullptr;
  while (git_reference_next(&ref, it) == 0) {
    RefPtr r(ref);
    git_object* obj = nullptr;
    if (git_reference_peel(&obj, r.get(), GIT_OBJECT_COMMIT) == 0) {
      ObjectPtr o(obj);
      out.insert(oid_hex(git_object_id(o.get())));
    }
  }
  git_reference_iterator_free(it);
  return {out.begin(), out.end()};
}

std::vector<std::string> Repo::branch_and_tag_commits() const {
  std::set<std::string> out;
  if (auto head = try_resolve_commit("HEAD")) out.insert(*head);
  for (const char* glob : {"refs/heads/*", "refs/remotes/*", "refs/tags/*"}) {
    git_reference_iterator* it = nullptr;
    check(git_reference_iterator_glob_new(&it, repo_, glob), "cannot list references");
    git_reference* ref = nullptr;
    while (git_reference_next(&ref, it) == 0) {
      RefPtr r(ref);
      git_object* obj = nullptr;
      if (git_reference_peel(&obj, r.get(), GIT_OBJECT_COMMIT) == 0) {  // a tag of a blob leads nowhere
        ObjectPtr o(obj);
        out.insert(oid_hex(git_object_id(o.get())));
      }
    }
    git_reference_iterator_free(it);
  }
  return {out.begin(), out.end()};
}

std::vector<std::pair<std::string, std::string>> Repo::branch_tips() const {
  std::map<std::string, std::string> out;
  for (const char* glob : {"refs/heads/*", "refs/remotes/*"}) {
    git_reference_iterator* it = nullptr;
    check(git_reference_iterator_glob_new(&it, repo_, glob), "cannot list references");
    git_reference* ref = nullptr;
    while (git_reference_next(&ref, it) == 0) {
      RefPtr r(ref);
      if (git_reference_type(r.get()) == GIT_REFERENCE_SYMBOLIC) continue;
      git_object* obj = nullptr;
      if (git_reference_peel(&obj, r.get(), GIT_OBJECT_COMMIT) == 0) {
        ObjectPtr o(obj);
        out[git_reference_name(r.get())] = oid_hex(git_object_id(o.get()));
      }
    }
    git_reference_iterator_free(it);
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> Repo::fetch_all_remotes() {
  git_strarray names{};
  check(git_remote_list(&names, repo_), "cannot list git remotes");
  std::vector<std::string> out;
  for (std::size_t i = 0; i < names.count; ++i) out.emplace_back(names.strings[i]);
  git_strarray_dispose(&names);
  for (const std::string& name : out) {
    git_remote* rem = nullptr;
    check(git_remote_lookup(&rem, repo_, name.c_str()), "git remote '" + name + "'");
    git_fetch_options opts = GIT_FETCH_OPTIONS_INIT;
    int rc = git_remote_fetch(rem, nullptr, &opts, nullptr);
    git_remote_free(rem);
    check(rc, "git fetch " + name);
  }
  return out;
}

std::vector<std::string> Repo::gc_root_commits() const {
  std::vector<std::string> roots = ref_commits();
  std::set<std::string> out(roots.begin(), roots.end());
  std::vector<std::string> names{"HEAD"};
  git_strarray refs{};
  check(git_reference_list(&refs, repo_), "cannot list references");
  for (std::size_t i = 0; i < refs.count; ++i) names.emplace_back(refs.strings[i]);
  git_strarray_dispose(&refs);
  for (auto& name : names) {
    git_reflog* log = nullptr;
    if (git_reflog_read(&log, repo_, name.c_str()) < 0) continue;
    for (std::size_t i = 0; i < git_reflog_entrycount(log); ++i) {
      const git_reflog_entry* e = git_reflog_entry_byindex(log, i);
      for (const git_oid* id : {git_reflog_entry_id_old(e), git_reflog_entry_id_new(e)}) {
        if (git_oid_is_zero(id)) continue;
        git_commit* c = nullptr;
        if (git_commit_lookup(&c, repo_, id) == 0) {  // entries may name pruned commits
          out.insert(oid_hex(id));
          git_commit_free(c);
        }
      }
    }
    git_reflog_free(log);
  }
  return {out.begin(), out.end()};
}

std::vector<Repo::FoundBlob> Repo::blobs_with_suffix(const std::vector<std::string>& commits, const std::string& suffix,
                                                     bool history) const {
  std::vector<std::string> all = commits;
  if (history && !commits.empty()) all = walk(commits, {}, "");
  std::set<std::string> seen_trees, seen_blobs;
  std::vector<FoundBlob> out;
  // Depth-first over trees, skipping trees already walked (most trees repeat across commits).
  std::function<void(const git_tree*, const std::string&)> walk_tree = [&](const git_tree* t,
                                                                           const std::string& prefix) {
    for (std::size_t i = 0; i < git_tree_entrycount(t); ++i) {
      const git_tree_entry* e = git_tree_entry_byindex(t, i);
      const char* name = git_tree_entry_name(e);
      std::string id = oid_hex(git_tree_entry_id(e));
      git_object_t type = git_tree_entry_type(e);
      if (type == GIT_OBJECT_TREE) {
        if (!seen_trees.insert(id).second) continue;
        git_tree* sub = nullptr;
        check(git_tree_lookup(&sub, repo_, git_tree_entry_id(e)), "cannot read tree " + id);
        TreePtr st(sub);
        walk_tree(st.get(), prefix + name + "/");
      } else if (type == GIT_OBJECT_BLOB && has_suffix(name, suffix)) {
        if (!seen_blobs.insert(id).second) continue;
        out.push_back({prefix + name, id, blob_text(repo_, git_tree_entry_id(e), prefix + name)});
      }
    }
  };
  for (auto& c : all) {
    TreePtr tree = commit_tree(repo_, c);
    if (!seen_trees.insert(oid_hex(git_tree_id(tree.get()))).second) continue;
    walk_tree(tree.get(), "");
  }
  return out;
}

std::vector<Repo::FoundBlob> Repo::index_file_blobs_with_suffix(const fs::path& index_path,
                                                                const std::string& suffix) const {
  std::string bytes = util::read_file(index_path);
  if (is_split_index(bytes)) throw split_index_error(index_path);
  git_index* i = nullptr;
  check(git_index_open(&i, index_path.c_str()), "cannot read the index " + index_path.string());
  IndexPtr index(i);
  return suffix_blobs_in(index.get(), suffix);
}

std::vector<Repo::FoundBlob> Repo::index_blobs_with_suffix(const std::string& suffix) const {
  IndexPtr index = open_index(repo_);
  return suffix_blobs_in(index.get(), suffix);
}

std::vector<Repo::FoundBlob> Repo::suffix_blobs_in(git_index* index, const std::string& suffix) const {
  std::set<std::string> seen;
  std::vector<FoundBlob> out;
  for (std::size_t k = 0; k < git_index_entrycount(index); ++k) {  // every stage: conflicts too
    const git_index_entry* e = git_index_get_byindex(index, k);
    if (!has_suffix(e->path, suffix)) continue;
    std::string id = oid_hex(&e->id);
    if (!seen.insert(id).second) continue;
    out.push_back({e->path, id, blob_text(repo_, &e->id, std::string("staged ") + e->path)});
  }
  return out;
}

}  // namespace mvc::git

namespace mvc::git {

namespace {

ConfigPtr open_config_file(const fs::path& file) {
  ensure_init();
  git_config* c = nullptr;
  if (git_config_open_ondisk(&c, file.c_str()) < 0) fail(file.string() + ": cannot open the git config file");
  return ConfigPtr(c);
}

/// "merge.mvc.driver" → the header git writes for its section: `[merge "mvc"]`.
std::string section_header(const std::string& key) {
  auto first = key.find('.');
  auto last = key.rfind('.');
  if (first == last) return "[" + key.substr(0, first) + "]";
  return "[" + key.substr(0, first) + " \"" + key.substr(first + 1, last - first - 1) + "\"]";
}

std::string trimmed(const std::string& s) {
  auto a = s.find_first_not_of(" \t\r");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") - a + 1);
}

/// Drops the header `header` from `file` where no variable follows it before the next section.
void drop_empty_section(const fs::path& file, const std::string& header) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return;
  const std::string content = util::read_file(file);
  std::vector<std::string> lines;
  for (std::string_view l : util::split_lines(content)) lines.emplace_back(l);
  std::vector<std::string> out;
  bool changed = false;
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (trimmed(lines[i]) == header) {
      std::size_t j = i + 1;
      bool empty = true;
      for (; j < lines.size(); ++j) {
        std::string t = trimmed(lines[j]);
        if (!t.empty() && t[0] == '[') break;
        if (!t.empty() && t[0] != '#' && t[0] != ';') empty = false;
      }
      if (empty) {
        changed = true;
        i = j - 1;  // the blank lines and comments of the empty section go with it
        continue;
      }
    }
    out.push_back(lines[i]);
  }
  if (!changed) return;
  std::string text;
  for (auto& l : out) text += l + "\n";
  util::write_file_atomic(file, text);
}

}  // namespace

std::optional<std::string> config_get(const fs::path& file, const std::string& key) {
  std::error_code ec;
  if (!fs::exists(file, ec)) return std::nullopt;
  ConfigPtr cfg = open_config_file(file);
  git_config_entry* e = nullptr;
  int rc = git_config_get_entry(&e, cfg.get(), key.c_str());
  if (rc == GIT_ENOTFOUND) return std::nullopt;
  if (rc < 0) fail(file.string() + ": cannot read " + key);
  std::string v = e->value ? e->value : "";
  git_config_entry_free(e);
  return v;
}

void config_set(const fs::path& file, const std::string& key, const std::string& value) {
  ConfigPtr cfg = open_config_file(file);
  if (git_config_set_string(cfg.get(), key.c_str(), value.c_str()) < 0) fail(file.string() + ": cannot set " + key);
}

bool config_unset(const fs::path& file, const std::string& key) {
  if (!config_get(file, key)) return false;
  {
    ConfigPtr cfg = open_config_file(file);
    if (git_config_delete_entry(cfg.get(), key.c_str()) < 0) fail(file.string() + ": cannot remove " + key);
  }
  drop_empty_section(file, section_header(key));
  return true;
}

fs::path global_config_file() {
  if (const char* g = std::getenv("GIT_CONFIG_GLOBAL"); g && *g) return fs::path(g);
  const char* home = std::getenv("HOME");
  fs::path home_file = fs::path(home ? home : "") / ".gitconfig";
  fs::path xdg;
  if (const char* x = std::getenv("XDG_CONFIG_HOME"); x && *x)
    xdg = fs::path(x) / "git/config";
  else
    xdg = fs::path(home ? home : "") / ".config/git/config";
  std::error_code ec;
  if (!fs::exists(home_file, ec) && fs::exists(xdg, ec)) return xdg;
  return home_file;
}

}  // namespace mvc::git
