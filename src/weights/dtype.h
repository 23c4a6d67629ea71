// Tensor element types, named as safetensors names them ("F32") and as PyTorch / arch.toml
// name them ("float32"). Source: safetensors format spec (huggingface/safetensors, `Dtype`),
// torch.dtype names.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace mvc::weights {

enum class DType {
  F64,
  F32,
  F16,
  BF16,
  I64,
  I32,
  I16,
  I8,
  U8,
  BOOL,
  C64,  // complex64 (torch.complex64): safetensors code "C64", which the reference
        // implementation reads and writes since safetensors 0.7 (older readers refuse it)
};

/// Bytes per element.
std::size_t dtype_size(DType d);
/// safetensors code: "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL",
/// "C64".
std::string_view safetensors_name(DType d);
/// The inverse of safetensors_name (exact, case-sensitive). Codes that safetensors defines but
/// mvc does not handle (U16, U32, U64, F8_*, F6_*, F4) give nullopt.
std::optional<DType> dtype_from_safetensors(std::string_view code);
/// Comma-separated, sorted list of the safetensors codes above, for error messages.
std::string safetensors_names_list();
/// torch name: "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16",
/// "int8", "uint8", "bool", "complex64".
std::string_view torch_name(DType d);
/// Accepts torch names and the aliases torch accepts ("float", "double", "half", "long", "int",
/// "short", "cfloat").
std::optional<DType> dtype_from_torch(std::string_view name);
/// Comma-separated list of the torch names, for error messages.
std::string torch_names_list();
/// As torch.is_floating_point: true for F64, F32, F16, BF16 (not for C64).
bool is_floating(DType d);

/// Whether a tensor stored as `file` loads into a tensor of dtype `want`: the same dtype, or
/// both floating point and `cast` (the pointer's [load] cast) is `want`. Integer, bool and
/// complex tensors never change dtype, so an integer buffer never takes float values.
bool dtype_loads_as(DType file, DType want, std::optional<DType> cast);

}  // namespace mvc::weights
