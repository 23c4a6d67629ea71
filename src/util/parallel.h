// A minimal parallel loop for a handful of large, independent jobs (hashing several weights
// files): no pool, no queue library — each job is seconds of I/O and SHA-256.
#pragma once

#include <cstddef>
#include <functional>

namespace mvc::util {

/// Runs fn(0) … fn(n-1) on up to min(n, std::thread::hardware_concurrency()) threads (the
/// calling thread is one of them); returns when all are done. If any call throws, the
/// remaining indices are not started and the first exception is rethrown.
void parallel_for(std::size_t n, const std::function<void(std::size_t)>& fn);

}  // namespace mvc::util
