#include <catch2/catch.hpp>

#include "weights/dtype.h"

using namespace mvc::weights;

namespace {
const DType kAll[] = {DType::F64, DType::F32, DType::F16, DType::BF16, DType::I64, DType::I32,
                      DType::I16, DType::I8,  DType::U8,  DType::BOOL, DType::C64};
}

TEST_CASE("dtype: sizes and names follow safetensors and torch", "[weights][dtype]") {
  struct Row {
    DType d;
    std::size_t size;
    const char* st;
    const char* torch;
    bool floating;
  };
  const Row rows[] = {
      {DType::F64, 8, "F64", "float64", true},    {DType::F32, 4, "F32", "float32", true},
      {DType::F16, 2, "F16", "float16", true},    {DType::BF16, 2, "BF16", "bfloat16", true},
      {DType::I64, 8, "I64", "int64", false},     {DType::I32, 4, "I32", "int32", false},
      {DType::I16, 2, "I16", "int16", false},     {DType::I8, 1, "I8", "int8", false},
      {DType::U8, 1, "U8", "uint8", false},       {DType::BOOL, 1, "BOOL", "bool", false},
      {DType::C64, 8, "C64", "complex64", false},
  };
  for (const Row& r : rows) {
    INFO(r.torch);
    CHECK(dtype_size(r.d) == r.size);
    CHECK(safetensors_name(r.d) == r.st);
    CHECK(torch_name(r.d) == r.torch);
    CHECK(is_floating(r.d) == r.floating);
    CHECK(dtype_from_safetensors(r.st) == r.d);
    CHECK(dtype_from_torch(r.torch) == r.d);
  }
}

TEST_CASE("dtype: round trips for every enumerator", "[weights][dtype]") {
  for (DType d : kAll) {
    CHECK(dtype_from_safetensors(safetensors_name(d)) == d);
    CHECK(dtype_from_torch(torch_name(d)) == d);
  }
}

TEST_CASE("dtype: torch aliases", "[weights][dtype]") {
  CHECK(dtype_from_torch("float") == DType::F32);
  CHECK(dtype_from_torch("double") == DType::F64);
  CHECK(dtype_from_torch("half") == DType::F16);
  CHECK(dtype_from_torch("long") == DType::I64);
  CHECK(dtype_from_torch("int") == DType::I32);
  CHECK(dtype_from_torch("short") == DType::I16);
  CHECK(dtype_from_torch("cfloat") == DType::C64);
}

TEST_CASE("dtype: unknown names are refused", "[weights][dtype]") {
  CHECK_FALSE(dtype_from_safetensors("f32"));  // codes are case-sensitive
  CHECK_FALSE(dtype_from_safetensors("F99"));
  CHECK_FALSE(dtype_from_safetensors("U16"));  // safetensors has it, mvc does not
  CHECK_FALSE(dtype_from_safetensors(""));
  CHECK_FALSE(dtype_from_torch("F32"));
  CHECK_FALSE(dtype_from_torch("Float32"));
  CHECK_FALSE(dtype_from_torch("torch.float32"));
  CHECK_FALSE(dtype_from_torch(""));
}

TEST_CASE("dtype: name lists for error messages", "[weights][dtype]") {
  CHECK(torch_names_list() == "float64, float32, float16, bfloat16, int64, int32, int16, int8, uint8, bool, complex64");
  CHECK(safetensors_names_list() == "BF16, BOOL, C64, F16, F32, F64, I16, I32, I64, I8, U8");
}
