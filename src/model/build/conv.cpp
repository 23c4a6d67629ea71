// The convolution family, LibTorch side: Conv1d, Conv2d, ConvTranspose2d. Mirrors
// src/arch/types/conv.cpp.
#include "model/build/family.h"

namespace mvc::model::build {

namespace {

nn::detail::conv_padding_mode_t padding_mode(const arch::Layer& l) {
  std::string m = l.str_opt("padding_mode", "zeros");
  if (m == "zeros") return torch::kZeros;
  if (m == "reflect") return torch::kReflect;
  if (m == "replicate") return torch::kReplicate;
  if (m == "circular") return torch::kCircular;
  throw Error(Exit::model,
              where(l) + ": option 'padding_mode' is '" + m + "' (valid: zeros, reflect, replicate, circular)");
}

template <std::size_t D>
nn::detail::conv_padding_t<D> conv_padding(const arch::Layer& l) {
  auto it = l.options.find("padding");
  if (it != l.options.end() && it->second.kind == arch::Value::Kind::string) {
    if (it->second.s == "same") return torch::kSame;
    if (it->second.s == "valid") return torch::kValid;
    throw Error(Exit::model, where(l) + ": option 'padding' is '" + it->second.s +
                                 "' (valid: an integer, a list of integers, \"same\", \"valid\")");
  }
  return expanding<D>(l.ints_opt("padding", D, 0));
}

/// LibTorch 1.13's ConvNdImpl computes padding="same" with a non-zeros padding_mode in the
/// wrong dimension order (it does not reverse the per-dimension pads as Python's
/// `_reversed_padding_repeated_twice` does), so [3, 1] kernels pad the wrong axis. This subclass
/// recomputes the pads as Python does; parameters and state_dict are those of Conv2d.
class Conv2dSameImpl : public nn::Conv2dImpl {
 public:
  explicit Conv2dSameImpl(nn::Conv2dOptions o) : nn::Conv2dImpl(std::move(o)) { fix_padding(); }
  void reset() override {
    nn::Conv2dImpl::reset();
    fix_padding();
  }

 private:
  void fix_padding() {
    if (!c10::get_if<torch::enumtype::kSame>(&options.padding())) return;
    constexpr std::size_t D = 2;
    _reversed_padding_repeated_twice.assign(2 * D, 0);
    for (std::size_t d = 0; d < D; ++d) {
      std::int64_t total = (*options.dilation())[d] * ((*options.kernel_size())[d] - 1);
      std::size_t i = D - 1 - d;  // F::pad lists the last dimension first
      _reversed_padding_repeated_twice[2 * i] = total / 2;
      _reversed_padding_repeated_twice[2 * i + 1] = total - total / 2;
    }
  }
};
TORCH_MODULE(Conv2dSame);

template <std::size_t D>
BuiltLayer build_conv(const arch::Layer& l) {
  using Options = std::conditional_t<D == 1, nn::Conv1dOptions, nn::Conv2dOptions>;
  Options o(l.int_opt("in_channels"), l.int_opt("out_channels"), expanding<D>(l.ints_opt("kernel_size", D)));
  o.stride(expanding<D>(l.ints_opt("stride", D, 1)))
      .padding(conv_padding<D>(l))
      .dilation(expanding<D>(l.ints_opt("dilation", D, 1)))
      .groups(l.int_opt("groups", 1))
      .bias(l.bool_opt("bias", true))
      .padding_mode(padding_mode(l));
  if constexpr (D == 1)
    return unary(nn::Conv1d(o));
  else
    return unary(Conv2dSame(o));
}

BuiltLayer build_conv_transpose2d(const arch::Layer& l, const BuildContext&) {
  nn::ConvTranspose2dOptions o(l.int_opt("in_channels"), l.int_opt("out_channels"),
                               expanding<2>(l.ints_opt("kernel_size", 2)));
  o.stride(expanding<2>(l.ints_opt("stride", 2, 1)))
      .padding(expanding<2>(l.ints_opt("padding", 2, 0)))
      .output_padding(expanding<2>(l.ints_opt("output_padding", 2, 0)))
      .groups(l.int_opt("groups", 1))
      .bias(l.bool_opt("bias", true))
      .dilation(expanding<2>(l.ints_opt("dilation", 2, 1)));
  nn::ConvTranspose2d m(o);
  return BuiltLayer{m.ptr(), [m](const Ins& in) mutable { return Outs{m->forward(in[0])}; }};
}

}  // namespace

Builders conv() {
  Builders t;
  t.emplace_back("Conv1d", [](L l, C) { return build_conv<1>(l); });
  t.emplace_back("Conv2d", [](L l, C) { return build_conv<2>(l); });
  t.emplace_back("ConvTranspose2d", build_conv_transpose2d);
  return t;
}

}  // namespace mvc::model::build
