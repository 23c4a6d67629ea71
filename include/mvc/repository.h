// mvc public C++ API, torch-free side: open an mvc repository and get any model version's
// files, with its weights verified from the cache. Pair with mvc/model.h to rebuild it:
//
//   mvc::Repository repo = mvc::Repository::open(".");
//   mvc::Model m = mvc::Model::load(repo.source("clf-v1", "models/clf"));
//   torch::Tensor y = m.forward(x);
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "mvc/model.h"

namespace mvc {

class Repository {
 public:
  /// Opens the mvc repository (git work tree with .mvc/) containing `start`.
  /// Throws mvc::Error(Exit::not_repo) when there is none or its format is too new.
  static Repository open(const std::filesystem::path& start = ".");

  /// Work tree root (absolute).
  std::filesystem::path root() const;

  /// Full commit id of a revision (branch, tag, short id, "HEAD~1"); Exit::failure if unknown.
  std::string resolve(const std::string& rev) const;

  /// The model version of `model_dir` (repository-relative, "models/clf") at `rev`:
  /// arch.toml and hparams.toml from the revision's tree, the weights as the cache object
  /// named by the revision's pointer, verified by SHA-256 before it is returned.
  /// `rev` = "" takes the work tree's files as they are (weights unverified: they may be
  /// uncommitted). Throws mvc::Error: Exit::missing (object not in cache), Exit::integrity
  /// (hash mismatch), Exit::model (invalid pointer, a size that is not its intact object's
  /// included: the message names the pointer and both sizes), Exit::failure (no such model at rev).
  ModelSource source(const std::string& rev, const std::string& model_dir) const;

  struct Impl;

 private:
  explicit Repository(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace mvc
