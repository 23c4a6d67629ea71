// mvc::Repository (include/mvc/repository.h) over core::Workspace.
#include "mvc/repository.h"

#include "core/workspace.h"
#include "mvc/error.h"
#include "util/fs.h"

namespace mvc {

struct Repository::Impl {
  core::Workspace ws;
};

Repository Repository::open(const std::filesystem::path& start) {
  return Repository(std::make_shared<Impl>(Impl{core::Workspace::open(start)}));
}

std::filesystem::path Repository::root() const { return impl_->ws.root(); }

std::string Repository::resolve(const std::string& rev) const { return impl_->ws.git().resolve_commit(rev); }

ModelSource Repository::source(const std::string& rev, const std::string& model_dir) const {
  core::Workspace& ws = impl_->ws;
  std::string dir = model_dir;
  while (!dir.empty() && dir.back() == '/') dir.pop_back();
  if (dir == ".") dir.clear();
  ModelSource src;
  src.arch_name = core::join(dir, core::kArchFile);
  src.hparams_name = core::join(dir, core::kHparamsFile);
  std::string where = dir.empty() ? "." : dir;
  if (rev.empty()) {
    std::filesystem::path d = ws.root() / dir;
    if (!std::filesystem::is_regular_file(d / core::kArchFile))
      throw Error(Exit::failure, where + ": not a model directory (no arch.toml)");
    src.arch_toml = util::read_file(d / core::kArchFile);
    if (std::filesystem::exists(d / core::kHparamsFile)) src.hparams_toml = util::read_file(d / core::kHparamsFile);
    auto ptr = core::workspace_pointer(ws, dir);
    src.weights = ptr ? ws.root() / ptr->weights_rel() : d / "weights.safetensors";
    if (ptr) {
      src.weights_key = ptr->pointer.load.key;
      src.strip_prefix = ptr->pointer.load.strip_prefix;
      src.cast = ptr->pointer.load.cast;
    }
    return src;
  }
  std::string commit = ws.git().resolve_commit(rev);
  auto arch = ws.git().read_blob_at(commit, src.arch_name);
  if (!arch) throw Error(Exit::failure, where + ": not a model directory at '" + rev + "' (no arch.toml)");
  src.arch_toml = *arch;
  src.hparams_toml = ws.git().read_blob_at(commit, src.hparams_name).value_or("");
  auto ptr = core::pointer_at(ws, commit, dir);
  if (!ptr) throw Error(Exit::failure, where + ": no weights pointer at '" + rev + "'");
  core::check_pointer_size(ws, *ptr);
  ws.store().verify(ptr->pointer.sha256);
  src.weights = ws.store().object_path(ptr->pointer.sha256);
  src.weights_key = ptr->pointer.load.key;
  src.strip_prefix = ptr->pointer.load.strip_prefix;
  src.cast = ptr->pointer.load.cast;
  return src;
}

}  // namespace mvc
