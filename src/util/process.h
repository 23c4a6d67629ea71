// Running a child process (hooks), without a shell.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mvc::util {

/// Runs `argv` (argv[0] is a path; not searched on PATH) in `cwd`, writing `stdin_data` to its
/// standard input; its stdout and stderr are the caller's. Returns the exit status, or 128 +
/// signal number. Throws mvc::Error(Exit::failure) when it cannot be started.
int run_process(const std::vector<std::string>& argv, const std::filesystem::path& cwd, const std::string& stdin_data);

/// Absolute path of the running executable (/proc/self/exe).
std::filesystem::path self_executable();

}  // namespace mvc::util
