// Test support: temporary directories, running real processes (mvc, git, python), fixtures.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mvc::test {

namespace fs = std::filesystem;

/// A fresh directory under $TMPDIR, removed (recursively) on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  fs::path operator/(const fs::path& p) const { return path_ / p; }

 private:
  fs::path path_;
};

struct RunResult {
  int exit_code = -1;  ///< exit status, or 128 + signal
  std::string out;
  std::string err;
};

/// Runs argv[0] (searched on PATH) with `args` in `cwd`, with extra environment `env`,
/// capturing stdout and stderr. Never throws on a non-zero exit.
RunResult run(const std::vector<std::string>& argv, const fs::path& cwd = {},
              const std::map<std::string, std::string>& env = {}, const std::string& stdin_data = {});

/// Runs the mvc binary under test.
RunResult run_mvc(const std::vector<std::string>& args, const fs::path& cwd,
                  const std::map<std::string, std::string>& env = {});
/// Runs git; REQUIREs success unless `check` is false.
RunResult git(const std::vector<std::string>& args, const fs::path& cwd, bool check = true);

/// `git init` in `dir` (created if needed) with a test identity and main as initial branch.
void git_init(const fs::path& dir);

void write_file(const fs::path& p, const std::string& bytes);
std::string read_file(const fs::path& p);

/// Directory of the generated Python fixtures (tests/fixtures/generate.py).
fs::path fixture_dir();
/// Source tree root.
fs::path source_dir();
/// Path of the mvc binary under test.
fs::path mvc_binary();
/// The parity cases: the names of the directories of tests/zoo (each an arch.toml and the
/// model.py that tests/fixtures/zoo.py turns into fixture_dir()/zoo/<name>/), sorted.
std::vector<std::string> zoo_cases();

/// Copies a fixture model (arch.toml, hparams.toml, weights) from the fixture directory
/// `fixture_dir()/name` into `dest` (created).
void copy_fixture_model(const std::string& name, const fs::path& dest);

}  // namespace mvc::test
