// The activation family, torch-free: the non-linear activation modules (ReLU, GELU, Softmax, ...),
// Dropout, and their functional forms (relu, gelu, softmax, log_softmax, ...). Mirrored by
// src/model/build/activation.cpp.
#include <algorithm>

#include "arch/types/family.h"

namespace mvc::arch::detail::types {

std::vector<LayerType> activation() {
  std::vector<LayerType> t;
  auto module = [&](std::string name, std::string doc, std::vector<OptionSpec> opts) {
    add_shape_preserving(t, std::move(name), std::move(doc), std::move(opts));
  };
  module("Dropout", "zeroes elements with probability p in training; identity in eval",
         {float_opt("p", "0.5", 0.0, 1.0), bool_opt("inplace", false)});
  module("ReLU", "max(0, x)", {bool_opt("inplace", false)});
  module("GELU", "Gaussian error linear unit", {string_opt("approximate", "none", {"none", "tanh"})});
  module("Tanh", "tanh(x)", {});
  module("Sigmoid", "1 / (1 + exp(-x))", {});
  {
    OptionSpec dim;
    dim.name = "dim";
    dim.kind = OptKind::optional_int;
    dim.default_text = "None";
    module("Softmax", "softmax along dim (None: PyTorch's legacy choice, 0 for 0-, 1- and 3-d inputs, else 1)", {dim});
  }
  module("ReLU6", "min(max(0, x), 6)", {bool_opt("inplace", false)});
  module("SiLU", "x * sigmoid(x)", {bool_opt("inplace", false)});
  module("Hardswish", "x * relu6(x + 3) / 6", {bool_opt("inplace", false)});
  module("LeakyReLU", "max(0, x) + negative_slope * min(0, x)",
         {float_opt("negative_slope", "0.01"), bool_opt("inplace", false)});
  // mvc.arch/2 (docs/architecture.md, "Format versions").
  module("Hardsigmoid", "relu6(x + 3) / 6", {bool_opt("inplace", false)});
  t.back().since = 2;
  {
    OptionSpec p = float_opt("p", "", 0.0, 1.0);
    p.required = true;
    OptionSpec mode = string_opt("mode", "", {"batch", "row"});
    mode.required = true;
    mode.default_text.clear();
    module("StochasticDepth", "torchvision.ops.StochasticDepth: drops residual paths in training; identity in eval",
           {p, mode});
    t.back().since = 2;
  }

  // The functional forms: operations, registering nothing.
  auto dim_checked = [](const Layer& l, const std::optional<Shape>& in) -> Inferred {
    if (!in) return {};
    if (!norm_dim(l.int_opt("dim"), std::max<std::size_t>(in->size(), 1))) return bad_dim("dim", l.int_opt("dim"), *in);
    return {in, {}, {}};
  };
  add_op(t, "softmax", "torch.softmax(x, dim)", {any_int("dim")}, 1, 1).output = dim_checked;
  add_op(t, "log_softmax", "torch.log_softmax(x, dim)", {any_int("dim")}, 1, 1).output = dim_checked;
  add_op(t, "relu", "torch.relu(x)", {}, 1, 1);
  add_op(t, "relu6", "F.relu6(x)", {}, 1, 1);
  add_op(t, "gelu", "F.gelu(x, approximate)", {string_opt("approximate", "none", {"none", "tanh"})}, 1, 1);
  add_op(t, "silu", "F.silu(x)", {}, 1, 1);
  add_op(t, "sigmoid", "torch.sigmoid(x)", {}, 1, 1);
  add_op(t, "tanh", "torch.tanh(x)", {}, 1, 1);
  add_op(t, "hardswish", "F.hardswish(x)", {}, 1, 1);
  add_op(t, "leaky_relu", "F.leaky_relu(x, negative_slope)", {float_opt("negative_slope", "0.01")}, 1, 1);
  add_op(t, "hardsigmoid", "F.hardsigmoid(x)", {}, 1, 1).since = 2;
  return t;
}

}  // namespace mvc::arch::detail::types
