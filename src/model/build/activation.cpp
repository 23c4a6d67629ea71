// The activation family, LibTorch side: the activation modules and Dropout, and the functions
// softmax, log_softmax, relu, relu6, gelu, silu, sigmoid, tanh, hardswish and leaky_relu.
// Mirrors src/arch/types/activation.cpp.
#include <optional>

#include "model/build/family.h"

namespace mvc::model::build {

namespace {

std::int64_t legacy_softmax_dim(const at::Tensor& x) {
  auto n = x.dim();
  return (n == 0 || n == 1 || n == 3) ? 0 : 1;
}

}  // namespace

Builders activation() {
  Builders t;
  t.emplace_back("Dropout", [](L l, C) {
    // inplace only saves memory; the result is the same, so it is not passed on (an in-place
    // first layer would overwrite the caller's input). Likewise for the activations below.
    (void)l.bool_opt("inplace", false);
    return unary(nn::Dropout(nn::DropoutOptions(l.float_opt("p", 0.5))));
  });
  t.emplace_back("ReLU", [](L l, C) {
    (void)l.bool_opt("inplace", false);
    return unary(nn::ReLU());
  });
  t.emplace_back("ReLU6", [](L l, C) {
    (void)l.bool_opt("inplace", false);
    return unary(nn::ReLU6());
  });
  t.emplace_back("SiLU", [](L l, C) {
    (void)l.bool_opt("inplace", false);
    return unary(nn::SiLU());
  });
  t.emplace_back("Hardswish", [](L l, C) {  // no nn::Hardswish in LibTorch 1.13; it has no tensors
    (void)l.bool_opt("inplace", false);
    return fn([](const Ins& in) { return torch::hardswish(in[0]); });
  });
  t.emplace_back("LeakyReLU", [](L l, C) {
    (void)l.bool_opt("inplace", false);
    return unary(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(l.float_opt("negative_slope", 0.01))));
  });
  t.emplace_back("GELU", [](L l, C) {
    std::string a = l.str_opt("approximate", "none");
    if (a != "none" && a != "tanh")
      throw Error(Exit::model, where(l) + ": option 'approximate' is '" + a + "' (valid: none, tanh)");
    return unary(nn::GELU(nn::GELUOptions().approximate(a)));
  });
  t.emplace_back("Softmax", [](L l, C) {
    std::optional<std::int64_t> dim;
    if (l.has("dim")) dim = l.int_opt("dim");
    return BuiltLayer{
        nullptr, [dim](const Ins& in) { return Outs{torch::softmax(in[0], dim ? *dim : legacy_softmax_dim(in[0]))}; }};
  });
  t.emplace_back("Hardsigmoid", [](L l, C) {  // no nn::Hardsigmoid in LibTorch 1.13; it has no tensors
    (void)l.bool_opt("inplace", false);
    return fn([](const Ins& in) { return torch::hardsigmoid(in[0]); });
  });
  t.emplace_back("StochasticDepth", [](L l, C) {
    // torchvision.ops.StochasticDepth is the identity in eval mode, where mvc runs models; its
    // options are read (and checked) but change nothing there.
    (void)l.float_opt("p", 0.0);
    (void)l.str_opt("mode", "row");
    return fn([](const Ins& in) { return in[0]; });
  });
  t.emplace_back("Tanh", [](L, C) { return unary(nn::Tanh()); });
  t.emplace_back("Sigmoid", [](L, C) { return unary(nn::Sigmoid()); });

  // The functional forms: parameter-free operations, they register nothing.
  t.emplace_back("softmax", [](L l, C) {
    auto d = l.int_opt("dim");
    return fn([d](const Ins& in) { return torch::softmax(in[0], d); });
  });
  t.emplace_back("log_softmax", [](L l, C) {
    auto d = l.int_opt("dim");
    return fn([d](const Ins& in) { return torch::log_softmax(in[0], d); });
  });
  t.emplace_back("relu", [](L, C) { return fn([](const Ins& in) { return torch::relu(in[0]); }); });
  t.emplace_back("relu6", [](L, C) { return fn([](const Ins& in) { return torch::hardtanh(in[0], 0.0, 6.0); }); });
  t.emplace_back("gelu", [](L l, C) {
    auto a = l.str_opt("approximate", "none");
    return fn([a](const Ins& in) { return torch::gelu(in[0], a); });
  });
  t.emplace_back("hardsigmoid", [](L, C) { return fn([](const Ins& in) { return torch::hardsigmoid(in[0]); }); });
  t.emplace_back("silu", [](L, C) { return fn([](const Ins& in) { return torch::silu(in[0]); }); });
  t.emplace_back("sigmoid", [](L, C) { return fn([](const Ins& in) { return torch::sigmoid(in[0]); }); });
  t.emplace_back("tanh", [](L, C) { return fn([](const Ins& in) { return torch::tanh(in[0]); }); });
  t.emplace_back("hardswish", [](L, C) { return fn([](const Ins& in) { return torch::hardswish(in[0]); }); });
  t.emplace_back("leaky_relu", [](L l, C) {
    auto s = l.float_opt("negative_slope", 0.01);
    return fn([s](const Ins& in) { return torch::leaky_relu(in[0], s); });
  });
  return t;
}

}  // namespace mvc::model::build
