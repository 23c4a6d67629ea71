// mvc::Repository (include/mvc/repository.h) over core::Workspace.
#include "mvc/repository.h"

#include "core/model_version.h"
#include "core/workspace.h"
#include "mvc/error.h"

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
  core::ModelVersion v = core::resolve_version(ws, rev, model_dir);
  if (v.in_work_tree()) {
    // The work tree's files as they are: the weights may be uncommitted, so they are not
    // verified; the file is the one the pointer names, else the one mvc commit would take.
    std::vector<std::string> files;
    if (v.pointer)
      for (const auto& f : v.pointer->pointer.files()) files.push_back(core::join(v.dir, f.path));
    else
      files = core::find_weights_files(ws, v.dir, {});
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
  return core::verified_source(ws, v);
}

}  // namespace mvc
