// A restricted unpickler for the data.pkl of torch.save zip checkpoints: torch-free, never
// calls anything, never imports anything.
//
// Source of the format: CPython Lib/pickletools.py (opcodes, protocols 0-5 as far as torch.save
// uses them) and PyTorch torch/serialization.py (`_save`: persistent ids
// ('storage', <storage type>, key, location, numel)) and torch/_utils.py (`_rebuild_tensor_v2`,
// `_rebuild_parameter`).
//
// What it builds (a tree of Value): None, bool, int (64-bit), float, str, bytes, tuple, list,
// dict (keys in insertion order; OrderedDict is a dict with `ordered` set and may carry
// `_metadata`), storages (from persistent ids) and tensors (from _rebuild_tensor_v2 /
// _rebuild_parameter). The only globals accepted are:
//   collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter,
//   torch._utils._rebuild_parameter_with_state, torch.<X>Storage (Float, Double, Half, BFloat16,
//   Long, Int, Short, Char, Byte, Bool, ComplexFloat) as storage types in a persistent id.
// Any other global is refused at the GLOBAL/STACK_GLOBAL opcode with an error naming it
// ("module.name"); a known global is only ever interpreted, never executed.
//
// Bounds (for hostile input): nesting at most kMaxDepth containers deep; the pickle cannot make
// cycles (a container, once placed in another, is frozen); memo indices below the pickle size;
// integers beyond 64 bits, unknown opcodes and truncated input are errors.
// Errors: mvc::Error(Exit::model) "<what>: <why>" with the byte offset of the opcode.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "weights/dtype.h"

namespace mvc::weights::pickle {

/// Maximum nesting of containers (a state dict needs 4: dict, tuple of args, shape tuple, ...).
inline constexpr int kMaxDepth = 100;

struct Value;
using Ref = std::shared_ptr<Value>;

/// A storage named by a persistent id: ('storage', torch.FloatStorage, "0", "cpu", 6).
struct Storage {
  std::string key;       ///< names the zip entry <prefix>/data/<key>
  DType dtype;           ///< from the storage type (FloatStorage → F32)
  std::string location;  ///< "cpu", "cuda:0", ...
  std::uint64_t numel;   ///< elements of dtype
};

/// torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, ...).
struct Tensor {
  std::shared_ptr<const Storage> storage;
  std::uint64_t storage_offset = 0;   ///< in elements
  std::vector<std::int64_t> shape;    ///< empty for 0-d
  std::vector<std::int64_t> strides;  ///< in elements, same length as shape
  bool requires_grad = false;
  bool parameter = false;  ///< wrapped by torch._utils._rebuild_parameter
};

struct Value {
  enum class Kind { none, boolean, integer, floating, string, bytes, tuple, list, dict, storage, tensor, global };
  Kind kind = Kind::none;
  bool b = false;
  std::int64_t i = 0;
  double f = 0;
  std::string s;                             ///< string, bytes, or "module.name" of a global
  std::vector<Ref> items;                    ///< tuple, list
  std::vector<std::pair<Ref, Ref>> entries;  ///< dict, in insertion order; a repeated key is kept
                                             ///< twice (Python keeps the last; state-dict readers refuse it)
  bool ordered = false;                      ///< dict made by collections.OrderedDict
  Ref metadata;                              ///< OrderedDict's `_metadata` attribute (or null)
  std::shared_ptr<const Storage> storage;    ///< storage
  std::shared_ptr<const Tensor> tensor;      ///< tensor
  int depth = 0;                             ///< nesting depth of the value (leaves: 0)
  bool frozen = false;                       ///< placed inside another value: no longer mutable

  /// dict lookup by string key (nullptr when absent or not a dict).
  const Value* get(std::string_view key) const;
  /// "dict", "OrderedDict", "list", "tensor", ... for messages.
  std::string type_name() const;
};

/// Unpickles `data` (the bytes of a data.pkl). `what` names the file in errors.
Ref unpickle(std::string_view data, const std::string& what);

}  // namespace mvc::weights::pickle
