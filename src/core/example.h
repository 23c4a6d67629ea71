// The reproducibility record (the pointer's [example] table, docs/repository-format.md): an example input
// stored as an object, the output the model computed on it stored as an object, and the
// check that a restored version still computes it. Running the model goes through the dlopen
// bridge; comparing outputs is torch-free.
#pragma once

#include <filesystem>
#include <string>

#include "core/pointer.h"
#include "core/workspace.h"
#include "mvc/source.h"

namespace mvc::core {

/// How a new output compares with the recorded one.
struct ExampleCheck {
  bool ok = false;
  double max_abs_diff = 0;  ///< largest |new − recorded| over all floating outputs
  std::string worst;        ///< the output holding it ("fc")
};

/// Compares two safetensors files of outputs: the same tensor names, dtypes and shapes
/// (else mvc::Error(Exit::model) naming the difference), floating values within `atol`
/// (absolute), other dtypes byte for byte (a mismatch counts as difference +inf).
ExampleCheck compare_outputs(const std::string& recorded_bytes, const std::string& new_bytes, double atol,
                             const std::string& what);

/// Reruns the example of `pointer` (its [example] must be set) with the model `source`
/// (its weights already verified): copies the input object out of the cache (verified), runs,
/// compares with the recorded output object. Throws Exit::missing / Exit::integrity for the
/// objects, what torch_run throws, and Exit::model "<dir>: the example's output differs from
/// the record: largest absolute difference D in 'name' (atol A)".
ExampleCheck verify_example(const Workspace& ws, const std::string& dir, const Pointer& pointer,
                            const ModelSource& source);

}  // namespace mvc::core
