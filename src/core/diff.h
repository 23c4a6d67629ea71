// `mvc diff`: what changed in model directories between two versions (docs/user-guide.md,
// "mvc diff"), torch-free. The architecture is compared as parsed and expanded (layers, their
// options, output shapes, parameters), hparams and metrics key by key (dotted keys), and the
// weights tensor by tensor, read with mvc's own safetensors and torch.save readers: tensors
// with identical bytes are not widened, and the same object on both sides is not read at all.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/workspace.h"
#include "store/stored_file.h"
#include "weights/dtype.h"
#include "weights/torch_zip.h"

namespace mvc::core {

/// The tensors of a weights file (safetensors or torch.save zip, detected from its bytes), by
/// name, with their C-contiguous bytes on demand.
class TensorFile {
 public:
  struct Entry {
    std::string name;  ///< after strip_prefix
    weights::DType dtype;
    std::vector<std::int64_t> shape;
    std::uint64_t numel = 0;
  };
  /// Reads the file's description (no tensor data). `what` names the file in errors
  /// (Exit::model, as the readers throw them).
  TensorFile(const std::filesystem::path& path, const weights::StateDictOptions& opts, const std::string& what);
  /// The same for a file read in place from the store (store::StoredFile: its object, or the
  /// segment objects of its manifest -- then a safetensors file, the only format stored so).
  TensorFile(std::unique_ptr<store::StoredFile> file, const weights::StateDictOptions& opts, const std::string& what);
  ~TensorFile();
  TensorFile(const TensorFile&) = delete;
  TensorFile& operator=(const TensorFile&) = delete;
  const std::vector<Entry>& tensors() const { return entries_; }  ///< sorted by name
  const std::string& what() const { return what_; }
  /// The bytes of tensors()[i]: a view of the mapped file (safetensors), or `buf` filled with
  /// the tensor gathered from its storage (torch.save).
  /// Errors naming `what` and the tensor: a segment object missing from the cache (Exit::missing)
  /// or of the wrong size (Exit::integrity).
  std::string_view bytes(std::size_t i, std::string& buf) const;
  /// Where tensors()[i]'s bytes lie in the store when in one object (equal spans: equal bytes,
  /// nothing read); nullopt for a plain file, a torch.save file or a tensor across segments.
  std::optional<store::Span> span(std::size_t i) const;
  /// True when bytes(i) is a view of a mapped file (no copy into `buf`).
  bool in_place(std::size_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::vector<Entry> entries_;
  std::string what_;
};

/// The comparison of one tensor present on both sides.
struct TensorStats {
  double relative = 0;          ///< ‖B−A‖₂ / ‖A‖₂ (infinity when ‖A‖₂ = 0 and B ≠ A)
  double max_abs = 0;           ///< max |B−A|
  std::uint64_t differing = 0;  ///< elements whose values differ
  double fraction = 0;          ///< differing / numel
};

/// Compares two tensors of `n` elements, widened to double (half types included). Throws
/// mvc::Error(Exit::model) "<what>: tensor '<name>': dtype complex64 cannot be widened to a
/// real number for comparison" for a dtype mvc cannot widen.
TensorStats compare_tensor(weights::DType da, std::string_view a, weights::DType db, std::string_view b,
                           std::uint64_t n, const std::string& what, const std::string& name);

struct TensorDiff {
  enum class Change { unchanged, changed, added, removed, shape, dtype };
  std::string name;
  Change change = Change::unchanged;
  std::string dtype_a, dtype_b;  ///< torch names ("" on the side that lacks it)
  std::vector<std::int64_t> shape_a, shape_b;
  std::uint64_t numel = 0;           ///< B's (A's for a removed tensor)
  std::optional<TensorStats> stats;  ///< for changed values (also across dtypes of one shape)
};
std::string change_name(TensorDiff::Change c);  ///< "unchanged", "changed", "added", ...

struct WeightsDiff {
  std::vector<TensorDiff> tensors;       ///< every tensor of either side, sorted by name
  std::uint64_t parameters_total = 0;    ///< elements on side B
  std::uint64_t parameters_changed = 0;  ///< elements of B's tensors that are not unchanged
  std::size_t changed_tensors() const;
};

/// Compares the tensors of two weights files.
WeightsDiff diff_weights(const TensorFile& a, const TensorFile& b);
/// Compares the tensors of two sets of weights files (sharded weights: a tensor may move between
/// shards; tensors are matched by name). Tensors whose bytes lie at the same place of the same
/// stored object on both sides (TensorFile::span) are unchanged without being read; others of one
/// dtype are compared byte for byte first (memcmp), and only those that differ are widened, in
/// chunks of 1M elements on all cores. Exit::model naming both files for a tensor in two files of one side.
WeightsDiff diff_weights(const std::vector<const TensorFile*>& a, const std::vector<const TensorFile*>& b);

/// A key-value change (hparams, metrics, an architecture's options).
struct ValueChange {
  std::string key;
  std::optional<std::string> a, b;  ///< nullopt: absent on that side
};
/// Changed keys of two flattened TOML texts (nullopt = no file), in A's order then B's new keys.
std::vector<ValueChange> diff_values(const std::vector<std::pair<std::string, std::string>>& a,
                                     const std::vector<std::pair<std::string, std::string>>& b);
/// A metric's value as a number, when it is one.
std::optional<double> as_number(const std::string& toml_value);

struct LayerDiff {
  enum class Change { added, removed, changed };
  std::string name;
  Change change = Change::changed;
  std::string type_a, type_b;
  std::vector<ValueChange> options;  ///< options (and "inputs") old → new
  std::string shape_a, shape_b;      ///< output shapes
  std::uint64_t parameters_a = 0, parameters_b = 0;
};

struct ArchDiff {
  std::vector<ValueChange> header;  ///< "name", "dtype", "input <x>", "output <y>"
  std::vector<LayerDiff> layers;    ///< in B's order, then the removed ones in A's
  std::uint64_t parameters_a = 0, parameters_b = 0;
  bool empty() const { return header.empty() && layers.empty(); }
};

/// One side of a comparison as the user named it: "" the work tree, kIndexRev the index, else a
/// revision.
struct DiffRequest {
  std::string rev_a, rev_b;
  std::vector<std::string> dirs;  ///< repository-relative model directories ("" in the list = root); empty = all
  bool weights = true;            ///< false: --no-weights
};

struct ModelDiff {
  enum class Status { modified, added, removed };
  std::string dir;
  Status status = Status::modified;
  ArchDiff arch;
  std::vector<ValueChange> hparams, metrics;
  std::string weights_a, weights_b;  ///< weights sha256 on each side ("" = none)
  bool weights_compared = false;     ///< the tensors were read (different objects, not --no-weights)
  WeightsDiff weights;
};

struct DiffResult {
  std::vector<ModelDiff> models;  ///< the model directories that differ, sorted
};

/// Compares every model directory of the request. Throws mvc::Error as resolve_version and
/// verified_weights do (unknown revision 2, not a model directory 2, object missing 5, corrupt
/// 4), Exit::model for weights that cannot be read or widened.
DiffResult diff_versions(Workspace& ws, const DiffRequest& req);

}  // namespace mvc::core
