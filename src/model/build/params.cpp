// The free-tensor family, LibTorch side: Parameter and Buffer, registered under the layer's own
// name on the container of its parent path (ArchModule::register_tensor_path); the node's
// output is the tensor. Mirrors src/arch/types/params.cpp.
#include "model/build/family.h"

namespace mvc::model::build {

Builders params() {
  Builders t;
  t.emplace_back("Parameter", [](L l, C ctx) {
    BuiltLayer b;
    b.tensor = torch::zeros(l.int_list_opt("shape"), torch::TensorOptions().dtype(ctx.dtype)).set_requires_grad(true);
    return b;
  });
  t.emplace_back("Buffer", [](L l, C ctx) {
    BuiltLayer b;
    auto dtype = l.has("dtype") ? scalar_type_from_name(l.str_opt("dtype", ""), where(l) + ": dtype") : ctx.dtype;
    b.tensor = torch::zeros(l.int_list_opt("shape"), torch::TensorOptions().dtype(dtype));
    b.buffer = true;
    return b;
  });
  return t;
}

}  // namespace mvc::model::build
