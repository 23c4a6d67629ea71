#include "core/conflict.h"

#include <algorithm>
#include <set>

#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::core {

namespace {

std::string shown(const std::string& dir) { return dir.empty() ? "." : dir; }

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// Splits "models/clf/arch.toml" into ("models/clf", "arch.toml").
std::pair<std::string, std::string> split(const std::string& rel) {
  auto slash = rel.rfind('/');
  if (slash == std::string::npos) return {"", rel};
  return {rel.substr(0, slash), rel.substr(slash + 1)};
}

bool is_pointer_name(const std::string& name) { return name.size() > 4 && ends_with(name, kPointerSuffix); }

/// The staged model files of a directory, or a side's, that the mixed check compares.
struct Pair {
  std::optional<std::string> arch;
  std::optional<std::pair<std::string, std::string>> pointer;  ///< (rel, text)
};

Pair pair_at(const git::Repo& g, const std::string& commit, const std::string& dir) {
  Pair p;
  p.arch = g.read_blob_at(commit, join(dir, kArchFile));
  for (const auto& name : g.list_dir_at(commit, dir))
    if (is_pointer_name(name)) {
      std::string rel = join(dir, name);
      if (auto t = g.read_blob_at(commit, rel)) p.pointer = std::make_pair(rel, *t);
      break;
    }
  return p;
}

/// "weights from ours, arch.toml from theirs" when the staged pair mixes the sides, else "".
std::string mixed_reason(const git::Repo& g, const std::string& dir, const Pair& staged, const std::string& ours,
                         const std::string& theirs) {
  Pair o = pair_at(g, ours, dir), t = pair_at(g, theirs, dir);
  if (o.arch == t.arch || o.pointer == t.pointer) return "";  // one side's version is whole
  if (staged.pointer == o.pointer && staged.arch == t.arch) return "weights from ours, arch.toml from theirs";
  if (staged.pointer == t.pointer && staged.arch == o.arch) return "weights from theirs, arch.toml from ours";
  return "";  // the user's own resolution (new weights or a new arch.toml)
}

/// The mixed model directories among the index's (dir → reason), `only` = one directory.
std::map<std::string, std::string> mixed_dirs(const Workspace& ws, const std::optional<std::string>& only) {
  std::map<std::string, std::string> out;
  const git::Repo& g = ws.git();
  if (g.head_unborn()) return out;
  auto theirs = g.their_commit();
  if (!theirs) return out;
  const std::string ours = g.resolve_commit("HEAD");
  std::map<std::string, Pair> staged;
  for (const auto& p : g.index_paths()) {
    auto [dir, name] = split(p);
    if (only && dir != *only) continue;
    if (name == kArchFile) staged[dir].arch = g.read_index_blob(p);
  }
  for (const auto& p : g.index_paths()) {
    auto [dir, name] = split(p);
    auto it = staged.find(dir);
    if (it == staged.end() || !is_pointer_name(name) || it->second.pointer) continue;
    if (auto t = g.read_index_blob(p)) it->second.pointer = std::make_pair(p, *t);
  }
  for (const auto& [dir, pair] : staged)
    if (std::string why = mixed_reason(g, dir, pair, ours, *theirs); !why.empty()) out[dir] = why;
  return out;
}

std::vector<ModelConflict> conflicts_of(const Workspace& ws, const std::vector<git::Conflict>& all) {
  std::map<std::string, ModelConflict> by_dir;
  std::set<std::string> unmerged_arch;
  for (const auto& c : all) {
    auto [dir, name] = split(c.path);
    if (name == kArchFile) unmerged_arch.insert(dir);
    if (!is_model_file(name)) continue;
    ModelConflict& m = by_dir[dir];
    m.dir = dir;
    m.entries.push_back(c);
  }
  std::vector<ModelConflict> out;
  std::error_code ec;
  for (auto& [dir, m] : by_dir)
    if (unmerged_arch.count(dir) || fs::is_regular_file(ws.root() / dir / kArchFile, ec)) out.push_back(std::move(m));
  return out;
}

}  // namespace

const char* side_name(Side s) { return s == Side::ours ? "ours" : "theirs"; }

bool is_model_file(const std::string& name) {
  return name == kArchFile || name == kHparamsFile || name == kMetricsFile || name == kOptimizerFile ||
         name == ".gitignore" || is_pointer_name(name);
}

std::string ModelConflict::file_list() const {
  std::string out;
  for (const auto& e : entries) out += (out.empty() ? "" : ", ") + split(e.path).second;
  return out;
}

std::string ModelConflict::what() const {
  if (!mixed.empty()) return "conflicted as a whole: " + mixed;
  return "conflict in " + file_list();
}

std::string ModelConflict::message() const {
  if (!mixed.empty())
    return shown(dir) + ": unmerged (" + what() +
           ", never trained together); resolve with 'mvc checkout --ours|--theirs " + shown(dir) + "'";
  return shown(dir) + ": unmerged (conflict in " + file_list() + "); resolve with 'mvc checkout --ours|--theirs " +
         shown(dir) + "' or edit and 'git add'";
}

std::vector<ModelConflict> model_conflicts(const Workspace& ws) {
  std::vector<ModelConflict> out = conflicts_of(ws, ws.git().conflicts());
  std::set<std::string> unmerged;
  for (auto& c : out) unmerged.insert(c.dir);
  for (auto& [dir, why] : mixed_dirs(ws, std::nullopt))
    if (!unmerged.count(dir)) out.push_back(ModelConflict{dir, {}, why});
  std::sort(out.begin(), out.end(), [](const ModelConflict& a, const ModelConflict& b) { return a.dir < b.dir; });
  return out;
}

std::optional<ModelConflict> model_conflict(const Workspace& ws, const std::string& dir) {
  std::vector<git::Conflict> mine;
  for (auto& c : ws.git().conflicts())
    if (split(c.path).first == dir) mine.push_back(c);
  if (!mine.empty()) {
    auto found = conflicts_of(ws, mine);
    if (!found.empty()) return found.front();
  }
  auto mixed = mixed_dirs(ws, dir);
  if (auto it = mixed.find(dir); it != mixed.end()) return ModelConflict{dir, {}, it->second};
  return std::nullopt;
}

void refuse_if_conflicted(const Workspace& ws, const std::string& dir) {
  if (auto c = model_conflict(ws, dir)) throw Error(Exit::model, c->message());
}

void refuse_if_file_conflicted(const Workspace& ws, const std::string& rel) {
  for (auto& c : ws.git().conflicts())
    if (c.path == rel)
      throw Error(Exit::model,
                  rel + ": unmerged (a merge conflict); resolve it as text and 'git add " + rel + "', then retry");
}

std::map<std::string, std::optional<std::string>> side_files(const Workspace& ws, const ModelConflict& c, Side side) {
  const git::Repo& g = ws.git();
  std::optional<std::string> commit;
  if (side == Side::ours) {
    if (!g.head_unborn()) commit = g.resolve_commit("HEAD");
  } else {
    commit = g.their_commit();
  }
  std::map<std::string, std::optional<std::string>> out;
  for (const auto& e : c.entries) {
    const std::string& id = side == Side::ours ? e.ours : e.theirs;
    out[e.path] = id.empty() ? std::nullopt : std::optional<std::string>(g.read_blob(id));
  }
  // The model files the conflict left alone, as that side has them.
  std::set<std::string> others;
  for (const char* f : {kArchFile, kHparamsFile, kMetricsFile, kOptimizerFile, ".gitignore"})
    others.insert(join(c.dir, f));
  for (const auto& p : g.index_paths())
    if (auto [d, name] = split(p); d == c.dir && is_pointer_name(name)) others.insert(p);
  if (commit)
    for (const auto& name : g.list_dir_at(*commit, c.dir))
      if (is_pointer_name(name)) others.insert(join(c.dir, name));
  for (const auto& p : others) {
    if (out.count(p)) continue;
    out[p] = commit ? g.read_blob_at(*commit, p) : g.read_index_blob(p);
  }
  return out;
}

std::optional<PointerFile> side_pointer(const std::map<std::string, std::optional<std::string>>& files,
                                        const ModelConflict& c, Side side) {
  std::vector<std::string> found;
  for (const auto& [rel, text] : files)
    if (text && is_pointer_name(split(rel).second)) found.push_back(rel);
  if (found.empty()) return std::nullopt;
  if (found.size() > 1)
    throw Error(Exit::model, shown(c.dir) + " (" + side_name(side) + "): several pointer files (" +
                                 split(found[0]).second + ", " + split(found[1]).second +
                                 "); a model directory has one weights file");
  PointerFile pf;
  pf.rel = found[0];
  pf.pointer = parse_pointer(*files.at(pf.rel), pf.rel + " (" + side_name(side) + ")");
  return pf;
}

std::string conclude_hint(const Workspace& ws) {
  switch (ws.git().state()) {
    case git::RepoState::cherry_pick:
      return "continue the cherry-pick with 'git cherry-pick --continue'";
    case git::RepoState::revert:
      return "continue the revert with 'git revert --continue'";
    case git::RepoState::rebase:
      return "continue the rebase with 'git rebase --continue'";
    default:
      return "conclude the merge with 'git commit'";
  }
}

}  // namespace mvc::core

namespace mvc::core {

PointerMerge merge_pointers(const fs::path& base, const fs::path& ours, const fs::path& theirs,
                            const std::string& path) {
  for (const fs::path* f : {&base, &ours, &theirs}) {
    std::error_code ec;
    if (!fs::is_regular_file(*f, ec))
      throw Error(Exit::usage, "merge-driver: " + f->string() +
                                   ": no such file; git runs 'mvc merge-driver %O %A %B %P' during a merge, "
                                   "with the files of both sides");
  }
  Pointer o = parse_pointer(util::read_file(ours), path + " (ours)");
  Pointer t = parse_pointer(util::read_file(theirs), path + " (theirs)");
  PointerMerge m;
  if (o.to_toml() == t.to_toml()) return m;  // the same version, written differently: ours stands
  auto [dir, name] = split(path);
  m.conflict = true;
  m.message = "mvc merge-driver: " + path + ": both sides changed the weights (ours sha256:" + o.sha256.substr(0, 8) +
              ", theirs sha256:" + t.sha256.substr(0, 8) + "); " + shown(dir) +
              " is unmerged, no conflict markers written: resolve with 'mvc checkout --ours|--theirs " + shown(dir) +
              "'";
  return m;
}

}  // namespace mvc::core
