// Torch-free checks of a weights file against an architecture (docs/conventions.md, "LibTorch only where a module is
// built"): the expected state_dict derived from arch.toml compared with the weights file's header (safetensors) or its
// pickled description (torch.save zip), without reading tensor data.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "arch/arch.h"
#include "core/pointer.h"
#include "mvc/error.h"
#include "store/stored_file.h"
#include "weights/safetensors.h"

namespace mvc::core {

struct WeightsInfo {
  std::string kind;  ///< "safetensors" or "torch-zip" (the pointer's kind)
  /// The state dict as the file describes it, after [load] key and strip_prefix, sorted by
  /// name: name, dtype, shape (begin/end are byte offsets for safetensors, 0 for torch-zip).
  std::vector<weights::TensorInfo> tensors;
  /// torch-zip: the key of the state dict inside a wrapping checkpoint, when mvc found it
  /// without being told (record it in [load] so every later load does the same).
  std::string detected_key;
};

/// Detects the format of a weights file and reads its description, applying `load.key` and
/// `load.strip_prefix`. Throws mvc::Error(Exit::model) "<display>: <why>" for a file mvc cannot
/// read (a legacy pickle, a TorchScript archive, anything else, with how to re-save it), an
/// invalid header or pickle, a refused pickle global, an ambiguous wrapped checkpoint (listing
/// the top-level keys and --key), a `load.key` given for a safetensors file.
WeightsInfo inspect_weights(const std::filesystem::path& path, const std::string& display,
                            const LoadOptions& load = {});
/// The same for a file read in place from the store (store/stored_file.h): its object, or for
/// a file stored as segments its header segment only; nothing is hashed.
WeightsInfo inspect_weights(const store::StoredFile& file, const std::string& display, const LoadOptions& load = {});

/// The weights of several safetensors files read as one state dict (sharded weights): each
/// file inspected as inspect_weights does, the union sorted by name. `tensors_per_file` gets
/// each file's count. Throws mvc::Error(Exit::model) naming the tensor and the files for a
/// tensor in two shards; and, with `index_rel` (a Hugging Face `*.safetensors.index.json`,
/// repository-relative, "" = none), when the index disagrees with the shards: a weight_map
/// that names a file which is not one of the shards, a tensor mapped to a shard that does not
/// hold it, a tensor of a shard that weight_map does not list. `root` is the work tree, `rels`
/// repository-relative.
WeightsInfo inspect_shards(const std::filesystem::path& root, const std::vector<std::string>& rels,
                           const std::string& index_rel, const LoadOptions& load,
                           std::vector<std::uint64_t>* tensors_per_file = nullptr);

/// "models/clf (shards a.safetensors, b.safetensors)": how messages name a set of shards.
std::string shards_display(const std::string& dir, const std::vector<std::string>& rels);

/// The dtype named by a [load] cast ("float32", "half", ...): a floating dtype. Throws
/// mvc::Error(`code`) naming `what` and the valid names otherwise. nullopt for "".
std::optional<weights::DType> parse_cast(const std::string& cast, const std::string& what, Exit code = Exit::model);

struct Fit {
  std::uint64_t tensors = 0;
  std::uint64_t parameters = 0;  ///< elements of trainable parameters (buffers excluded)
};

/// Strict check: every expected key present, none extra, same shape, and a dtype that loads
/// as the expected one (weights::dtype_loads_as with `cast`). Throws ONE mvc::Error(Exit::model)
/// listing every missing and unexpected tensor and every shape and dtype mismatch:
/// "<weights> does not fit <arch>: missing tensor 'linear2.bias' [1] float32; ...", ending with
/// the option that fixes it when there is one (--strip-prefix for DataParallel / torch.compile
/// prefixes, --cast for floating-point dtypes).
Fit check_fit(const arch::Architecture& a, const WeightsInfo& w, const std::string& weights_name,
              const std::string& arch_name, const std::string& cast = {});

/// "1.2 MiB"
std::string human_bytes(std::uint64_t n);

}  // namespace mvc::core
