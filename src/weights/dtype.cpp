#include "weights/dtype.h"

#include <array>
#include <utility>

namespace mvc::weights {

namespace {

struct Row {
  DType dtype;
  std::size_t size;
  std::string_view st;     // safetensors code
  std::string_view torch;  // torch name
  bool floating;
};

// One row per DType, in enum order.
constexpr std::array<Row, 11> kTable{{
    {DType::F64, 8, "F64", "float64", true},
    {DType::F32, 4, "F32", "float32", true},
    {DType::F16, 2, "F16", "float16", true},
    {DType::BF16, 2, "BF16", "bfloat16", true},
    {DType::I64, 8, "I64", "int64", false},
    {DType::I32, 4, "I32", "int32", false},
    {DType::I16, 2, "I16", "int16", false},
    {DType::I8, 1, "I8", "int8", false},
    {DType::U8, 1, "U8", "uint8", false},
    {DType::BOOL, 1, "BOOL", "bool", false},
    {DType::C64, 8, "C64", "complex64", false},
}};

const Row& row(DType d) {
  auto i = static_cast<std::size_t>(d);
  return kTable[i < kTable.size() ? i : 0];
}

// Aliases torch accepts as attributes of the torch module (torch.float is torch.float32, ...).
struct Alias {
  std::string_view name;
  DType dtype;
};
constexpr std::array<Alias, 7> kAliases{{
    {"float", DType::F32},
    {"double", DType::F64},
    {"half", DType::F16},
    {"long", DType::I64},
    {"int", DType::I32},
    {"short", DType::I16},
    {"cfloat", DType::C64},
}};

}  // namespace

std::size_t dtype_size(DType d) { return row(d).size; }

std::string_view safetensors_name(DType d) { return row(d).st; }

std::optional<DType> dtype_from_safetensors(std::string_view code) {
  for (const Row& r : kTable)
    if (r.st == code) return r.dtype;
  return std::nullopt;
}

std::string_view torch_name(DType d) { return row(d).torch; }

std::optional<DType> dtype_from_torch(std::string_view name) {
  for (const Row& r : kTable)
    if (r.torch == name) return r.dtype;
  for (const Alias& a : kAliases)
    if (a.name == name) return a.dtype;
  return std::nullopt;
}

std::string torch_names_list() {
  std::string s;
  for (const Row& r : kTable) {
    if (!s.empty()) s += ", ";
    s += r.torch;
  }
  return s;
}

std::string safetensors_names_list() {
  // Sorted, as a reader scanning for a code expects.
  std::array<std::string_view, kTable.size()> names{};
  for (std::size_t i = 0; i < kTable.size(); ++i) names[i] = kTable[i].st;
  for (std::size_t i = 1; i < names.size(); ++i)
    for (std::size_t j = i; j > 0 && names[j] < names[j - 1]; --j) std::swap(names[j], names[j - 1]);
  std::string s;
  for (auto n : names) {
    if (!s.empty()) s += ", ";
    s += n;
  }
  return s;
}

bool is_floating(DType d) { return row(d).floating; }

bool dtype_loads_as(DType file, DType want, std::optional<DType> cast) {
  if (file == want) return true;
  return is_floating(file) && is_floating(want) && cast && *cast == want;
}

}  // namespace mvc::weights
