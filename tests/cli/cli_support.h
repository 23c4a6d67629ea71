// Shared set-up for the CLI tests: a real git repository with mvc initialised.
#pragma once

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support.h"

namespace mvc::test {

/// A git repository (main branch, test identity) with `mvc init` done and committed.
struct Repo {
  TempDir tmp;
  fs::path root;
  Repo() : root(tmp.path() / "repo") {
    git_init(root);
    RunResult r = run_mvc({"init"}, root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  fs::path operator/(const fs::path& p) const { return root / p; }
  /// Replaces the model directory's files with fixture `name`'s (arch, hparams, weights).
  void put_model(const std::string& fixture, const std::string& dir = "models/clf") const {
    copy_fixture_model(fixture, root / dir);
  }
  int commit_count() const {
    RunResult r = run({"git", "rev-list", "--count", "--all"}, root);
    return r.exit_code == 0 ? std::stoi(r.out) : 0;
  }
  std::string head() const { return run({"git", "rev-parse", "HEAD"}, root).out; }
};

/// A Repo holding the LSTM of the parity zoo in models/lstm, committed and tagged v1 with a
/// recorded example (`mvc commit --example`, the input being the zoo's input).
struct ExampleRepo : Repo {
  fs::path input = fixture_dir() / "zoo/lstm/input.safetensors";
  ExampleRepo() {
    fs::create_directories(root / "models/lstm");
    fs::copy_file(source_dir() / "tests/zoo/lstm/arch.toml", root / "models/lstm/arch.toml");
    fs::copy_file(fixture_dir() / "zoo/lstm/weights.safetensors", root / "models/lstm/weights.safetensors");
    RunResult r = run_mvc({"commit", "models/lstm", "-m", "lstm", "--tag", "v1", "--example", input.string()}, root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("example recorded: input sha256:") != std::string::npos);
  }
  std::string pointer() const { return read_file(root / "models/lstm/weights.safetensors.mvc"); }
};

/// Every file under `dir` with its bytes (symlinks as "-> target"), for "nothing changed" checks.
std::map<std::string, std::string> snapshot(const fs::path& dir);

/// The object cache of the repository whose main work tree is `root`: in git's common dir.
inline fs::path cache_dir(const fs::path& root) { return root / ".git/mvc/cache"; }

/// The object path of a sha256 in the repository's cache.
inline fs::path object_path(const fs::path& root, const std::string& sha) {
  return cache_dir(root) / "objects/sha256" / sha.substr(0, 2) / sha.substr(2);
}

/// Retrains one layer (`layer`: "linear1" or "linear2") of the mlp fixture in `dir` with PyTorch,
/// the other layers frozen, and writes its new weights.safetensors; returns what PyTorch computed
/// in float64 for every tensor that changed: {"name": {"relative", "max_abs", "fraction"}}.
nlohmann::json retrain(const Repo& repo, const std::string& layer, const std::string& dir = "models/clf");

/// The sha256 recorded in a pointer file.
std::string pointer_sha(const fs::path& pointer_file);

}  // namespace mvc::test
