// Running a child process (hooks), without a shell.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mvc::util {

/// Runs `argv` (argv[0] is a path; not searched on PATH) in `cwd`, writing `stdin_data` to its
/// standard input, with this process's environment plus (replacing same-named variables) `env`;
/// its stdout and stderr are the caller's. Returns the exit status, or 128 + signal number.
/// Throws mvc::Error(Exit::failure) when it cannot be started.
int run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd, const std::string& stdin_data,
                const std::map<std::string, std::string>& env = {});

/// Unlinks `paths` in a detached grandchild process (double fork; setsid; every descriptor
/// closed, so a caller reading this process's stdout through a pipe does not wait for it) and
/// returns at once. For files whose removal may be slow and that nobody needs any more:
/// freeing a large file's blocks takes the kernel up to about a second a GiB on some
/// filesystems (ext4 with online discard). Where fork fails, unlinks them here. Errors are
/// ignored (a path already gone is the expected case for a concurrent `mvc gc`). Nothing
/// happens for an empty list.
void unlink_detached(const std::vector<std::filesystem::path>& paths);

/// Absolute path of the running executable (/proc/self/exe).
std::filesystem::path self_executable();

}  // namespace mvc::util
