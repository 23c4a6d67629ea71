#include "core/model_version.h"

#include <sys/stat.h>

#include <algorithm>

#include "core/alias.h"
#include "core/conflict.h"
#include "core/transfer.h"
#include "mvc/error.h"

namespace mvc::core {

namespace fs = std::filesystem;

namespace {

std::string shown(const std::string& dir) { return dir.empty() ? "." : dir; }

std::optional<std::string> read_if_file(const fs::path& p) {
  std::error_code ec;
  if (!fs::is_regular_file(p, ec)) return std::nullopt;
  return util::read_file(p);
}

// The pointer file staged in directory `dir`, as workspace_pointer / pointer_at find theirs.
std::optional<PointerFile> pointer_in_index(const Workspace& ws, const std::string& dir) {
  const std::string prefix = dir.empty() ? "" : dir + "/";
  std::vector<std::string> found;
  for (auto& p : ws.git().index_paths()) {
    if (p.rfind(prefix, 0) != 0) continue;
    std::string n = p.substr(prefix.size());
    if (n.find('/') == std::string::npos && n.size() > 4 && n.compare(n.size() - 4, 4, ".mvc") == 0) found.push_back(p);
  }
  if (found.empty()) return std::nullopt;
  std::sort(found.begin(), found.end());
  if (found.size() > 1)
    throw Error(Exit::model, shown(dir) + " in the index: several pointer files (" + found[0] + ", " + found[1] +
                                 "); a model directory has one weights file");
  PointerFile pf;
  pf.rel = found[0];
  pf.pointer = parse_pointer(*ws.git().read_index_blob(pf.rel), pf.rel + " (in the index)");
  return pf;
}

}  // namespace

std::string normalize_dir(const std::string& dir) {
  std::string d = fs::path(dir).lexically_normal().generic_string();
  while (!d.empty() && d.back() == '/') d.pop_back();
  if (d == ".") d.clear();
  return d;
}

std::string ModelVersion::describe() const {
  if (rev.empty()) return shown(dir);
  if (in_index()) return shown(dir) + " in the index";
  return shown(dir) + " at " + rev;
}

const PointerFile& ModelVersion::require_pointer() const {
  if (!pointer)
    throw Error(Exit::model, describe() + ": no weights pointer (the weights were never committed; run mvc commit " +
                                 shown(dir) + ")");
  return *pointer;
}

ModelSource ModelVersion::source(const fs::path& weights) const {
  ModelSource s;
  s.arch_toml = arch_text;
  s.arch_name = arch_name;
  s.hparams_toml = hparams_text.value_or("");
  s.hparams_name = hparams_name;
  s.weights = weights;
  if (pointer) {
    s.weights_name = pointer->weights_rel();
    for (const auto& f : pointer->pointer.files())
      if (f.path != pointer->pointer.path) {  // the shards after the first: beside it, by their work-tree names
        s.extra_weights.push_back(weights.parent_path() / f.path);
        s.extra_weights_names.push_back(join(dir, f.path));
      }
    s.weights_key = pointer->pointer.load.key;
    s.strip_prefix = pointer->pointer.load.strip_prefix;
    s.cast = pointer->pointer.load.cast;
  }
  return s;
}

ModelVersion resolve_version(const Workspace& ws, const std::string& rev, const std::string& dir) {
  ModelVersion v;
  v.dir = normalize_dir(dir);
  v.rev = rev;
  v.arch_name = join(v.dir, kArchFile);
  v.hparams_name = join(v.dir, kHparamsFile);
  v.metrics_name = join(v.dir, kMetricsFile);
  v.optimizer_name = join(v.dir, kOptimizerFile);
  const git::Repo& g = ws.git();
  if (rev.empty()) {
    refuse_if_conflicted(ws, v.dir);  // its files hold conflict markers: no version to read
    auto arch = read_if_file(ws.root() / v.arch_name);
    if (!arch) throw Error(Exit::usage, v.describe() + ": not a model directory (no arch.toml)");
    v.arch_text = std::move(*arch);
    v.hparams_text = read_if_file(ws.root() / v.hparams_name);
    v.metrics_text = read_if_file(ws.root() / v.metrics_name);
    v.optimizer_text = read_if_file(ws.root() / v.optimizer_name);
    v.pointer = workspace_pointer(ws, v.dir);
    return v;
  }
  if (v.in_index()) {
    refuse_if_conflicted(ws, v.dir);
    auto arch = g.read_index_blob(v.arch_name);
    if (!arch) throw Error(Exit::usage, v.describe() + ": not a model directory (no arch.toml)");
    v.arch_text = std::move(*arch);
    v.hparams_text = g.read_index_blob(v.hparams_name);
    v.metrics_text = g.read_index_blob(v.metrics_name);
    v.optimizer_text = g.read_index_blob(v.optimizer_name);
    v.pointer = pointer_in_index(ws, v.dir);
    return v;
  }
  // Branch, tag and commit names win; then an alias of this model directory (core/alias.h).
  if (auto id = g.try_resolve_commit(rev))
    v.commit = *id;
  else if (auto a = alias_commit(ws, rev, v.dir))
    v.commit = *a;
  else if (auto has = alias_dirs(ws, rev); !has.empty())
    throw Error(Exit::usage, "unknown revision '" + rev + "' (an alias of " + shown(has.front()) +
                                 (has.size() > 1 ? " and " + std::to_string(has.size() - 1) + " more" : "") +
                                 ", not of " + shown(v.dir) + ")");
  else
    v.commit = g.resolve_commit(rev);  // throws "unknown revision"
  auto arch = g.read_blob_at(v.commit, v.arch_name);
  if (!arch) throw Error(Exit::usage, v.describe() + ": not a model directory (no arch.toml)");
  v.arch_text = std::move(*arch);
  v.hparams_text = g.read_blob_at(v.commit, v.hparams_name);
  v.metrics_text = g.read_blob_at(v.commit, v.metrics_name);
  v.optimizer_text = g.read_blob_at(v.commit, v.optimizer_name);
  v.pointer = pointer_at(ws, v.commit, v.dir);
  return v;
}

std::vector<std::string> model_dirs_of(const Workspace& ws, const std::string& rev) {
  if (rev.empty()) return workspace_model_dirs(ws);
  if (rev != kIndexRev) return model_dirs_at(ws, ws.git().resolve_commit(rev));
  std::vector<std::string> out;
  for (const auto& p : ws.git().find_files_in_index(kArchFile)) {
    auto slash = p.rfind('/');
    out.push_back(slash == std::string::npos ? "" : p.substr(0, slash));
  }
  std::sort(out.begin(), out.end());
  return out;
}

void fetch_missing(Workspace& ws, const std::vector<ObjectRef>& refs, util::Progress& progress) {
  std::vector<ObjectRef> want;
  for (const auto& r : refs)
    if (!ws.store().complete(r.sha256)) want.push_back(r);
  if (want.empty()) return;
  if (ws.config().default_remote.empty()) {
    if (std::string why = ws.store().missing_message(want[0].sha256); !why.empty())
      throw Error(Exit::missing, why + " (" + want[0].where + "), and no default remote is configured");
    throw Error(Exit::missing, "object " + want[0].sha256 + " (" + want[0].where +
                                   ") is not in the cache and no default remote is configured");
  }
  auto remote = open_remote(ws, "");
  TransferResult fr = fetch(ws, *remote, want, default_jobs(), progress);
  if (!fr.missing.empty())
    throw Error(Exit::missing, "object " + fr.missing[0].sha256 + " (" + fr.missing[0].where +
                                   ") is neither in the cache nor on remote " + remote->describe());
}

namespace {

/// How messages place the files of version `v`: " in the index", " at REV", or "" (the work tree).
std::string version_where(const ModelVersion& v) {
  return v.rev.empty() ? "" : v.in_index() ? " in the index" : " at " + v.rev;
}

/// The work-tree path of stored file `f` of version `v` when that file holds exactly its bytes
/// (a regular file of its size whose SHA-256 is its name; ws.hash_file's stat cache spares the
/// hashing of an unchanged file), else nullopt. The work tree may hold the only copy (committed,
/// not yet pushed, cache cleaned), or an identical copy of a file stored as segments.
std::optional<fs::path> identical_work_tree_file(Workspace& ws, const ModelVersion& v, const WeightsFileRecord& f) {
  const std::string w = join(v.dir, f.path);
  struct stat st {};
  if (::lstat((ws.root() / w).c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::uint64_t>(st.st_size) == f.size && ws.hash_file(w) == f.sha256)
    return ws.root() / w;
  return std::nullopt;
}

/// check_pointer_size for the one stored file `f` of pointer `pf`.
void check_file_size(Workspace& ws, const PointerFile& pf, const WeightsFileRecord& f) {
  PointerFile one = pf;
  one.pointer.set_files({f});
  check_pointer_size(ws, one);
}

/// The stored files `files` of version `v` (pointer `pf`), each verified: see verified_weights.
std::vector<fs::path> verified_records(Workspace& ws, const ModelVersion& v, const PointerFile& pf,
                                       const std::vector<WeightsFileRecord>& files, util::Progress& progress) {
  std::vector<fs::path> out(files.size());
  std::vector<ObjectRef> want;
  std::vector<std::size_t> from_store;
  bool from_work_tree = false;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const WeightsFileRecord& f = files[i];
    if (!ws.store().has_object(f.sha256)) {
      // A file stored as segments is read from an identical work-tree copy rather than rebuilt.
      if (auto w = identical_work_tree_file(ws, v, f)) {
        out[i] = *w;
        from_work_tree = true;
        continue;
      }
      want.push_back(ObjectRef{f.sha256, join(v.dir, f.path) + version_where(v), {{f.size, pf.display()}}});
    }
    from_store.push_back(i);
  }
  if (from_work_tree) ws.save_state();
  if (!want.empty()) fetch_missing(ws, want, progress);
  std::uint64_t total = 0;
  for (std::size_t i : from_store) total += files[i].size;
  progress.start(total, from_store.size());
  for (std::size_t i : from_store) {
    const WeightsFileRecord& f = files[i];
    check_file_size(ws, pf, f);
    progress.item(join(v.dir, f.path));
    out[i] = ws.store().readable_path(f.sha256, util::ProgressDelta(progress));  // verified
    progress.item_done();
  }
  return out;
}

}  // namespace

std::vector<fs::path> verified_weights_files(Workspace& ws, const ModelVersion& v, util::Progress& progress) {
  const PointerFile& pf = v.require_pointer();
  return verified_records(ws, v, pf, pf.pointer.files(), progress);
}

fs::path verified_optimizer_state(Workspace& ws, const ModelVersion& v, util::Progress& progress) {
  const PointerFile& pf = v.require_pointer();
  if (!pf.pointer.optimizer)
    throw Error(Exit::model, v.describe() + ": no optimizer state (" + pf.display() +
                                 " records none: that version was saved without mvc.save(..., optimizer=opt))");
  if (!v.optimizer_text) throw Error(Exit::model, v.describe() + ": optimizer state without its " + v.optimizer_name);
  return verified_records(ws, v, pf, {*pf.pointer.optimizer}, progress).front();
}

std::vector<std::unique_ptr<store::StoredFile>> stored_weights_files(Workspace& ws, const ModelVersion& v,
                                                                     util::Progress& progress) {
  const PointerFile& pf = v.require_pointer();
  const auto files = pf.pointer.files();
  std::vector<std::unique_ptr<store::StoredFile>> out(files.size());
  std::vector<ObjectRef> want;
  bool from_work_tree = false;
  for (std::size_t i = 0; i < files.size(); ++i) {
    const WeightsFileRecord& f = files[i];
    if (ws.store().complete(f.sha256)) continue;
    if (auto w = identical_work_tree_file(ws, v, f)) {
      out[i] = std::make_unique<store::StoredFile>(*w);
      from_work_tree = true;
      continue;
    }
    want.push_back(ObjectRef{f.sha256, join(v.dir, f.path) + version_where(v), {{f.size, pf.display()}}});
  }
  if (from_work_tree) ws.save_state();
  if (!want.empty()) fetch_missing(ws, want, progress);
  for (std::size_t i = 0; i < files.size(); ++i) {
    if (out[i]) continue;
    check_file_size(ws, pf, files[i]);
    out[i] = std::make_unique<store::StoredFile>(ws.store(), files[i].sha256);
  }
  return out;
}

fs::path verified_weights(Workspace& ws, const ModelVersion& v, util::Progress& progress) {
  return verified_weights_files(ws, v, progress).front();
}

ModelSource verified_source(Workspace& ws, const ModelVersion& v, util::Progress& progress) {
  std::vector<fs::path> files = verified_weights_files(ws, v, progress);
  ModelSource s = v.source(files[0]);
  for (std::size_t i = 1; i < files.size() && i - 1 < s.extra_weights.size(); ++i) s.extra_weights[i - 1] = files[i];
  return s;
}

ModelSource model_source(Workspace& ws, const ModelVersion& v) {
  if (!v.in_work_tree()) return verified_source(ws, v);
  std::vector<std::string> files;
  if (v.pointer)
    for (const auto& f : v.pointer->pointer.files()) files.push_back(join(v.dir, f.path));
  else
    files = find_weights_files(ws, v.dir, {});
  ModelSource s = v.source(ws.root() / files[0]);
  s.weights_name = files[0];
  s.extra_weights.clear();
  s.extra_weights_names.clear();
  for (std::size_t i = 1; i < files.size(); ++i) {
    s.extra_weights.push_back(ws.root() / files[i]);
    s.extra_weights_names.push_back(files[i]);
  }
  return s;
}

std::vector<std::string> choose_weights_files(const fs::path& dir, const std::string& shown_dir) {
  std::error_code ec;
  if (fs::is_regular_file(dir / "weights.safetensors", ec)) return {"weights.safetensors"};
  std::vector<std::string> found;
  bool all_safetensors = true;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    if (e.path().filename() == kOptimizerStateFile) continue;  // optimizer state, never weights
    if ((ext == ".safetensors" || ext == ".pt" || ext == ".pth") && e.is_regular_file(ec)) {
      found.push_back(e.path().filename().string());
      all_safetensors = all_safetensors && ext == ".safetensors";
    }
  }
  std::sort(found.begin(), found.end());
  if (found.size() > 1 && !all_safetensors) {
    std::string list;
    for (auto& f : found) list += (list.empty() ? "" : ", ") + f;
    throw Error(Exit::usage, shown_dir + ": several weights files (" + list +
                                 "); choose one with --weights FILE (several *.safetensors files alone are "
                                 "committed together as shards)");
  }
  return found;
}

std::string choose_weights_file(const fs::path& dir, const std::string& shown_dir) {
  auto found = choose_weights_files(dir, shown_dir);
  return found.empty() ? std::string() : found[0];
}

bool is_shard_index_name(const std::string& n) {
  static const std::string suffix = ".safetensors.index.json";
  return n.size() > suffix.size() && n.compare(n.size() - suffix.size(), suffix.size(), suffix) == 0;
}

std::string find_shard_index(const fs::path& dir, const std::string& shown_dir) {
  std::error_code ec;
  std::vector<std::string> found;
  for (auto& e : fs::directory_iterator(dir, ec)) {
    std::string n = e.path().filename().string();
    if (is_shard_index_name(n) && e.is_regular_file(ec)) found.push_back(n);
  }
  std::sort(found.begin(), found.end());
  if (found.size() > 1)
    throw Error(Exit::model, shown_dir + ": several shard index files (" + found[0] + ", " + found[1] +
                                 "); a model directory has one weights set");
  return found.empty() ? std::string() : found[0];
}

std::string pointer_name_for(const std::vector<std::string>& names) {
  if (names.size() == 1) return names[0] + kPointerSuffix;
  // STEM-00001-of-00004.safetensors: the same STEM in every name.
  auto stem_of = [](const std::string& n) -> std::string {
    static const std::string ext = ".safetensors";
    if (n.size() <= ext.size() || n.compare(n.size() - ext.size(), ext.size(), ext) != 0) return {};
    std::string b = n.substr(0, n.size() - ext.size());
    auto of = b.rfind("-of-");
    if (of == std::string::npos) return {};
    auto dash = b.rfind('-', of - 1);
    if (dash == std::string::npos || dash == 0) return {};
    auto digits = [](const std::string& d) {
      return !d.empty() && std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (!digits(b.substr(dash + 1, of - dash - 1)) || !digits(b.substr(of + 4))) return {};
    return b.substr(0, dash);
  };
  std::string stem = stem_of(names[0]);
  for (const auto& n : names)
    if (stem.empty() || stem_of(n) != stem) return names[0] + kPointerSuffix;
  return stem + ".safetensors" + kPointerSuffix;
}

std::vector<std::string> find_weights_files(const Workspace& ws, const std::string& dir,
                                            const fs::path& explicit_file) {
  if (!explicit_file.empty()) return {find_weights_file(ws, dir, explicit_file)};
  std::vector<std::string> names = choose_weights_files(ws.root() / dir, shown(dir));
  if (names.empty()) return {find_weights_file(ws, dir, explicit_file)};  // throws "no weights file"
  std::vector<std::string> out;
  for (auto& n : names) out.push_back(join(dir, n));
  return out;
}

std::string find_weights_file(const Workspace& ws, const std::string& dir, const fs::path& explicit_file) {
  if (!explicit_file.empty()) {
    std::string rel = ws.git().rel(explicit_file);
    std::string prefix = dir.empty() ? "" : dir + "/";
    if (rel.rfind(prefix, 0) != 0 || rel.size() == prefix.size())
      throw Error(Exit::usage,
                  explicit_file.string() + ": the weights file must be inside the model directory " + shown(dir));
    if (!fs::is_regular_file(ws.root() / rel)) throw Error(Exit::model, rel + ": weights file not found");
    return rel;
  }
  auto names = choose_weights_files(ws.root() / dir, shown(dir));
  if (names.size() > 1) {
    std::string list;
    for (auto& f : names) list += (list.empty() ? "" : ", ") + f;
    throw Error(Exit::usage, shown(dir) + ": several weights files (" + list + "); choose one with --weights FILE");
  }
  std::string name = names.empty() ? std::string() : names[0];
  if (name.empty())
    throw Error(Exit::model, shown(dir) +
                                 ": no weights file (expected weights.safetensors, or one *.safetensors, "
                                 "*.pt or *.pth file, or --weights FILE)");
  return join(dir, name);
}

}  // namespace mvc::core

namespace mvc {

ModelSource ModelSource::from_directory(const std::filesystem::path& dir, const std::filesystem::path& weights_file) {
  namespace fs = std::filesystem;
  ModelSource s;
  fs::path arch = dir / core::kArchFile;
  std::error_code ec;
  if (!fs::is_regular_file(arch, ec)) throw Error(Exit::usage, dir.string() + ": not a model directory (no arch.toml)");
  s.arch_toml = util::read_file(arch);
  s.arch_name = arch.string();
  fs::path hp = dir / core::kHparamsFile;
  s.hparams_name = hp.string();
  if (fs::is_regular_file(hp, ec)) s.hparams_toml = util::read_file(hp);
  s.weights = weights_file;
  if (s.weights.empty()) {
    auto names = core::choose_weights_files(dir, dir.string());
    for (std::size_t i = 0; i < names.size(); ++i) {
      if (i == 0)
        s.weights = dir / names[0];
      else
        s.extra_weights.push_back(dir / names[i]);
    }
    s.extra_weights_names.resize(s.extra_weights.size());
  }
  return s;
}

}  // namespace mvc
