// Shared by push, fetch and pull: choosing the remote and revisions from the positionals, the
// progress line on a terminal and the summary line.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"

#include "core/model_check.h"
#include "core/transfer.h"

namespace mvc::cli {

/// The options push, fetch and pull share.
struct TransferOptions {
  std::vector<std::string> positional;  ///< [REMOTE] [REV...]
  std::string remote;                   ///< -r NAME
  bool all_commits = false;             ///< -a
  int jobs = 0;                         ///< -j N (0 = core::default_jobs())
  /// fetch / pull `-- PATH...`: only these model directories (cwd-relative; never a remote
  /// or a revision, whatever they are called). Empty = every model directory.
  std::vector<std::string> paths;
};

/// The model directories of `paths` (TransferOptions::paths), repository-relative and
/// normalised, each checked to be a model directory in the work tree or at one of `revs` (HEAD
/// when none): else Exit::usage "<path>: not a model directory (no arch.toml)".
std::vector<std::string> model_dirs_of_paths(const core::Workspace& ws, const std::vector<std::string>& paths,
                                             const std::vector<std::string>& revs);

/// Registers `[REMOTE] [REV...]`, -r and -j on `cmd`, and -a when `with_all_commits`.
void add_transfer_options(CLI::App* cmd, TransferOptions& o, bool with_all_commits);

struct TransferRun {
  std::unique_ptr<store::Remote> remote;
  core::TransferResult result;
  std::string seconds;  ///< result.seconds as "0.12"
};

/// push and fetch: the objects of the chosen revisions (default: HEAD and the workspace; with
/// -a, the history of every ref), sent or fetched by `transfer` (core::push or core::fetch)
/// with a progress line named `verb` on a terminal (cli/output.h) ending in its summary line.
TransferRun run_transfer(const TransferOptions& o, const std::string& verb,
                         core::TransferResult (*transfer)(core::Workspace&, store::Remote&,
                                                          const std::vector<core::ObjectRef>&, int,
                                                          core::TransferProgress&));

struct TransferArgs {
  std::string remote;             ///< "" = default
  std::vector<std::string> revs;  ///< "" = HEAD and the workspace
};

/// `[REMOTE] [REV...]`: the first positional is a remote when it names a configured one
/// (or `-r NAME` was given), the rest are revisions.
TransferArgs split_positionals(const core::Workspace& ws, const std::string& remote_opt,
                               const std::vector<std::string>& positional);

using core::human_bytes;  // "1.2 MiB"

/// Prints the objects in `missing` to stderr and throws Exit::missing when there are any.
void report_missing(const std::vector<core::ObjectRef>& missing, const std::string& why);

}  // namespace mvc::cli
