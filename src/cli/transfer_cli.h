// Shared by push, fetch and pull: choosing the remote and revisions from the positionals, the
// progress line on a terminal and the summary line.
#pragma once

#include <string>
#include <vector>

#include "core/transfer.h"

namespace mvc::cli {

struct TransferArgs {
  std::string remote;             ///< "" = default
  std::vector<std::string> revs;  ///< "" = HEAD and the workspace
};

/// `[REMOTE] [REV...]`: the first positional is a remote when it names a configured one
/// (or `-r NAME` was given), the rest are revisions.
TransferArgs split_positionals(const core::Workspace& ws, const std::string& remote_opt,
                               const std::vector<std::string>& positional);

/// A progress display on stderr when it is a terminal ("push: 3/10 objects, 1.2 MiB"), else none.
core::TransferProgress progress_for(const std::string& verb);
/// Ends the progress line (when one was drawn).
void end_progress();

/// "1.2 MiB"
std::string human_bytes(std::uint64_t n);

/// Prints the objects in `missing` to stderr and throws Exit::missing when there are any.
void report_missing(const std::vector<core::ObjectRef>& missing, const std::string& why);

}  // namespace mvc::cli
