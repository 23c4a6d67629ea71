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
  return core::model_source(ws, core::resolve_version(ws, rev, model_dir));
}

}  // namespace mvc
