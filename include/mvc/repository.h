// mvc public C++ API, torch-free (link mvc::core): open an mvc repository and get any model
// version's files, with its weights verified from the cache. Pair with mvc/model.h (mvc::torch)
// to rebuild it:
//
//   mvc::Repository repo = mvc::Repository::open(".");
//   mvc::Model m = mvc::Model::load(repo.source("clf-v1", "models/clf"));
//   torch::Tensor y = m.forward(x);
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "mvc/source.h"

namespace mvc {

class Repository {
 public:
  /// Opens the mvc repository (git work tree with .mvc/) containing `start`.
  /// Throws mvc::Error(Exit::not_repo) when there is none or its format is too new.
  static Repository open(const std::filesystem::path& start = ".");

  /// Work tree root (absolute).
  std::filesystem::path root() const;

  /// Full commit id (40 hex) of a revision (branch, tag, short id, "HEAD~1").
  /// Throws mvc::Error(Exit::usage) "unknown revision 'REV'".
  std::string resolve(const std::string& rev) const;

  /// The model version of `model_dir` (repository-relative, "models/clf") at `rev`, resolved
  /// as every mvc command resolves it: arch.toml and hparams.toml from the revision's tree, the
  /// weights as the cache object named by the revision's pointer, verified by SHA-256 before
  /// it is returned (else the work tree's file when it holds exactly those bytes, else fetched
  /// from the default remote). `rev` is a branch, tag or commit name, or an alias of
  /// `model_dir` (`mvc alias`; branch, tag and commit names win). `rev` = "" takes the work tree's files as they are
  /// (weights unverified: they may be uncommitted). `weights_name` of the result names the work-tree file, for errors.
  /// Throws mvc::Error with the codes of docs/conventions.md: Exit::usage (unknown revision; not a model directory at
  /// `rev`), Exit::model (no weights pointer; an invalid pointer, a size that is not its intact object's included: the
  /// message names the pointer and both sizes), Exit::missing (the object is nowhere), Exit::integrity (hash mismatch).
  ModelSource source(const std::string& rev, const std::string& model_dir) const;

 private:
  struct Impl;  // src/core/repository.cpp
  explicit Repository(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

}  // namespace mvc
