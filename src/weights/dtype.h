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
  F64, F32, F16, BF16,
  I64, I32, I16, I8, U8,
  BOOL,
  C64,  // complex64 (torch.complex64); safetensors has no code for it, see safetensors_name
};

/// Bytes per element.
std::size_t dtype_size(DType d);
/// safetensors code: "F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL".
std::string_view safetensors_name(DType d);
std::optional<DType> dtype_from_safetensors(std::string_view code);
/// torch name: "float64", "float32", "float16", "bfloat16", "int64", "int32", "int16",
/// "int8", "uint8", "bool", "complex64".
std::string_view torch_name(DType d);
/// Accepts torch names and the aliases torch accepts ("float", "double", "half", "long", "int").
std::optional<DType> dtype_from_torch(std::string_view name);
/// Comma-separated list of the torch names, for error messages.
std::string torch_names_list();
bool is_floating(DType d);

}  // namespace mvc::weights
