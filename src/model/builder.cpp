// The LibTorch module builder: a registry of layer type → builder, the root module that runs
// the layers in order, and the Model methods that do not touch weights files.
#include <algorithm>
#include <set>
#include <sstream>

#include "arch/layer_types.h"
#include "model/internal.h"
#include "mvc/error.h"

namespace mvc::model {

namespace nn = torch::nn;
using weights::DType;

// --- dtypes ---------------------------------------------------------------------------

c10::ScalarType to_scalar_type(DType d) {
  switch (d) {
    case DType::F64: return c10::kDouble;
    case DType::F32: return c10::kFloat;
    case DType::F16: return c10::kHalf;
    case DType::BF16: return c10::kBFloat16;
    case DType::I64: return c10::kLong;
    case DType::I32: return c10::kInt;
    case DType::I16: return c10::kShort;
    case DType::I8: return c10::kChar;
    case DType::U8: return c10::kByte;
    case DType::BOOL: return c10::kBool;
    case DType::C64: return c10::kComplexFloat;
  }
  throw Error(Exit::failure, "internal error: unknown dtype");
}

DType from_scalar_type(c10::ScalarType t, const std::string& what) {
  switch (t) {
    case c10::kDouble: return DType::F64;
    case c10::kFloat: return DType::F32;
    case c10::kHalf: return DType::F16;
    case c10::kBFloat16: return DType::BF16;
    case c10::kLong: return DType::I64;
    case c10::kInt: return DType::I32;
    case c10::kShort: return DType::I16;
    case c10::kChar: return DType::I8;
    case c10::kByte: return DType::U8;
    case c10::kBool: return DType::BOOL;
    case c10::kComplexFloat: return DType::C64;
    default: break;
  }
  throw Error(Exit::model, what + ": dtype " + std::string(c10::toString(t)) +
                               " cannot be stored (valid: " + weights::torch_names_list() + ")");
}

c10::ScalarType scalar_type_from_name(const std::string& name, const std::string& what) {
  auto d = weights::dtype_from_torch(name);
  if (!d) {
    throw Error(Exit::model, what + ": unknown dtype '" + name + "' (valid: " +
                                 weights::torch_names_list() + ")");
  }
  return to_scalar_type(*d);
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case c10::kDouble: case c10::kFloat: case c10::kHalf: case c10::kBFloat16:
    case c10::kLong: case c10::kInt: case c10::kShort: case c10::kChar: case c10::kByte:
    case c10::kBool: case c10::kComplexFloat:
      return std::string(weights::torch_name(from_scalar_type(t, "")));
    default:
      return c10::toString(t);
  }
}

std::string shape_str(c10::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// --- the registry ---------------------------------------------------------------------

namespace {

std::string where(const arch::Layer& l) {
  return l.pos.str() + ": layer '" + l.name + "' (" + l.type + ")";
}

/// A torch::nn module holder with a single-tensor forward.
template <class Holder>
BuiltLayer unary(Holder h) {
  return BuiltLayer{h.ptr(), [h](const std::vector<at::Tensor>& in) mutable {
                      return std::vector<at::Tensor>{h->forward(in[0])};
                    }};
}

template <std::size_t D>
torch::ExpandingArray<D> expanding(const std::vector<std::int64_t>& v) {
  return torch::ExpandingArray<D>(at::IntArrayRef(v));
}

nn::detail::conv_padding_mode_t padding_mode(const arch::Layer& l) {
  std::string m = l.str_opt("padding_mode", "zeros");
  if (m == "zeros") return torch::kZeros;
  if (m == "reflect") return torch::kReflect;
  if (m == "replicate") return torch::kReplicate;
  if (m == "circular") return torch::kCircular;
  throw Error(Exit::model, where(l) + ": option 'padding_mode' is '" + m +
                               "' (valid: zeros, reflect, replicate, circular)");
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

BuiltLayer build_linear(const arch::Layer& l, const BuildContext&) {
  return unary(nn::Linear(nn::LinearOptions(l.int_opt("in_features"), l.int_opt("out_features"))
                              .bias(l.bool_opt("bias", true))));
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

template <class Holder, class Options>
BuiltLayer build_batchnorm(const arch::Layer& l) {
  Options o(l.int_opt("num_features"));
  o.eps(l.float_opt("eps", 1e-5))
      .momentum(l.float_opt("momentum", 0.1))
      .affine(l.bool_opt("affine", true))
      .track_running_stats(l.bool_opt("track_running_stats", true));
  return unary(Holder(o));
}

BuiltLayer build_layernorm(const arch::Layer& l, const BuildContext&) {
  nn::LayerNormOptions o(l.int_list_opt("normalized_shape"));
  o.eps(l.float_opt("eps", 1e-5)).elementwise_affine(l.bool_opt("elementwise_affine", true));
  return unary(nn::LayerNorm(o));
}

BuiltLayer build_embedding(const arch::Layer& l, const BuildContext&) {
  nn::EmbeddingOptions o(l.int_opt("num_embeddings"), l.int_opt("embedding_dim"));
  if (l.has("padding_idx")) o.padding_idx(l.int_opt("padding_idx"));
  if (l.has("max_norm")) o.max_norm(l.float_opt("max_norm", 0));
  o.norm_type(l.float_opt("norm_type", 2.0))
      .scale_grad_by_freq(l.bool_opt("scale_grad_by_freq", false))
      .sparse(l.bool_opt("sparse", false));
  return unary(nn::Embedding(o));
}

BuiltLayer build_maxpool2d(const arch::Layer& l, const BuildContext&) {
  auto kernel = l.ints_opt("kernel_size", 2);
  nn::MaxPool2dOptions o(expanding<2>(kernel));
  // PyTorch: stride defaults to kernel_size.
  o.stride(expanding<2>(l.has("stride") ? l.ints_opt("stride", 2) : kernel))
      .padding(expanding<2>(l.ints_opt("padding", 2, 0)))
      .dilation(expanding<2>(l.ints_opt("dilation", 2, 1)))
      .ceil_mode(l.bool_opt("ceil_mode", false));
  if (l.bool_opt("return_indices", false)) {
    throw Error(Exit::model, where(l) + ": option 'return_indices' = true is not supported "
                                        "(the layer would return a tuple)");
  }
  return unary(nn::MaxPool2d(o));
}

using Ins = std::vector<at::Tensor>;
using Outs = std::vector<at::Tensor>;

BuiltLayer fn(std::function<at::Tensor(const Ins&)> f) {
  return BuiltLayer{nullptr, [f](const Ins& in) { return Outs{f(in)}; }};
}

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

template <class Holder, class Options>
BuiltLayer build_rnn(const arch::Layer& l, bool lstm) {
  Options o(l.int_opt("input_size"), l.int_opt("hidden_size"));
  o.num_layers(l.int_opt("num_layers", 1))
      .bias(l.bool_opt("bias", true))
      .batch_first(l.bool_opt("batch_first", false))
      .dropout(l.float_opt("dropout", 0.0))
      .bidirectional(l.bool_opt("bidirectional", false));
  if constexpr (std::is_same_v<Options, nn::LSTMOptions>) o.proj_size(l.int_opt("proj_size", 0));
  Holder m(o);
  return BuiltLayer{m.ptr(), [m](const Ins& in) mutable {
                      auto r = m->forward(in[0]);
                      if constexpr (std::is_same_v<Options, nn::LSTMOptions>)
                        return Outs{std::get<0>(r), std::get<0>(std::get<1>(r)), std::get<1>(std::get<1>(r))};
                      else
                        return Outs{std::get<0>(r), std::get<1>(r)};
                    }};
}

/// Python's nn.MultiheadAttention, batch_first included (LibTorch 1.13 has no batch_first: the
/// inputs are transposed to (L, N, E) and the output back, as Python does).
BuiltLayer build_mha(const arch::Layer& l, const BuildContext&) {
  std::int64_t e = l.int_opt("embed_dim");
  nn::MultiheadAttentionOptions o(e, l.int_opt("num_heads"));
  o.dropout(l.float_opt("dropout", 0.0))
      .bias(l.bool_opt("bias", true))
      .add_bias_kv(l.bool_opt("add_bias_kv", false))
      .add_zero_attn(l.bool_opt("add_zero_attn", false))
      .kdim(l.int_opt("kdim", e))
      .vdim(l.int_opt("vdim", e));
  bool batch_first = l.bool_opt("batch_first", false);
  nn::MultiheadAttention m(o);
  return BuiltLayer{m.ptr(), [m, batch_first](const Ins& in) mutable {
                      bool t = batch_first && in[0].dim() == 3;
                      auto tr = [t](const at::Tensor& x) { return t ? x.transpose(0, 1) : x; };
                      auto r = m->forward(tr(in[0]), tr(in[1]), tr(in[2]));
                      return Outs{tr(std::get<0>(r)), std::get<1>(r)};
                    }};
}

BuiltLayer build_upsample(const arch::Layer& l, const BuildContext&) {
  std::optional<std::vector<std::int64_t>> size;
  if (l.has("size")) size = l.int_list_opt("size");
  double scale = l.float_opt("scale_factor", 1.0);
  std::string mode = l.str_opt("mode", "nearest");
  std::optional<bool> align;
  if (l.has("align_corners")) align = l.bool_opt("align_corners", false);
  return BuiltLayer{nullptr, [=](const Ins& in) {
                      namespace F = torch::nn::functional;
                      std::size_t nd = static_cast<std::size_t>(std::max<std::int64_t>(in[0].dim() - 2, 1));
                      F::InterpolateFuncOptions o;
                      if (size)
                        o.size(size->size() == 1 ? std::vector<std::int64_t>(nd, (*size)[0]) : *size);
                      else
                        o.scale_factor(std::vector<double>(nd, scale));
                      if (mode == "nearest") o.mode(torch::kNearest);
                      else if (mode == "linear") o.mode(torch::kLinear);
                      else if (mode == "bilinear") o.mode(torch::kBilinear);
                      else if (mode == "bicubic") o.mode(torch::kBicubic);
                      else o.mode(torch::kTrilinear);
                      if (align) o.align_corners(*align);
                      return Outs{F::interpolate(in[0], o)};
                    }};
}

std::int64_t legacy_softmax_dim(const at::Tensor& x) {
  auto n = x.dim();
  return (n == 0 || n == 1 || n == 3) ? 0 : 1;
}

const std::map<std::string, Builder>& registry() {
  static const std::map<std::string, Builder> types = [] {
    std::map<std::string, Builder> t;
    using L = const arch::Layer&;
    using C = const BuildContext&;
    t["Linear"] = build_linear;
    t["Conv1d"] = [](L l, C) { return build_conv<1>(l); };
    t["Conv2d"] = [](L l, C) { return build_conv<2>(l); };
    t["ConvTranspose2d"] = build_conv_transpose2d;
    t["BatchNorm1d"] = [](L l, C) { return build_batchnorm<nn::BatchNorm1d, nn::BatchNorm1dOptions>(l); };
    t["BatchNorm2d"] = [](L l, C) { return build_batchnorm<nn::BatchNorm2d, nn::BatchNorm2dOptions>(l); };
    t["LayerNorm"] = build_layernorm;
    t["GroupNorm"] = [](L l, C) {
      return unary(nn::GroupNorm(nn::GroupNormOptions(l.int_opt("num_groups"), l.int_opt("num_channels"))
                                     .eps(l.float_opt("eps", 1e-5))
                                     .affine(l.bool_opt("affine", true))));
    };
    t["Embedding"] = build_embedding;
    t["Bilinear"] = [](L l, C) {
      nn::Bilinear m(nn::BilinearOptions(l.int_opt("in1_features"), l.int_opt("in2_features"),
                                         l.int_opt("out_features"))
                         .bias(l.bool_opt("bias", true)));
      return BuiltLayer{m.ptr(), [m](const Ins& in) mutable { return Outs{m->forward(in[0], in[1])}; }};
    };
    t["LSTM"] = [](L l, C) { return build_rnn<nn::LSTM, nn::LSTMOptions>(l, true); };
    t["GRU"] = [](L l, C) { return build_rnn<nn::GRU, nn::GRUOptions>(l, false); };
    t["MultiheadAttention"] = build_mha;
    t["Dropout"] = [](L l, C) {
      // inplace only saves memory; the result is the same, so it is not passed on (an in-place
      // first layer would overwrite the caller's input). Likewise for the activations below.
      (void)l.bool_opt("inplace", false);
      return unary(nn::Dropout(nn::DropoutOptions(l.float_opt("p", 0.5))));
    };
    t["Flatten"] = [](L l, C) {
      return unary(nn::Flatten(nn::FlattenOptions().start_dim(l.int_opt("start_dim", 1)).end_dim(l.int_opt("end_dim", -1))));
    };
    t["MaxPool2d"] = build_maxpool2d;
    t["max_pool2d"] = build_maxpool2d;
    t["AvgPool2d"] = [](L l, C) {
      auto kernel = l.ints_opt("kernel_size", 2);
      nn::AvgPool2dOptions o(expanding<2>(kernel));
      o.stride(expanding<2>(l.has("stride") ? l.ints_opt("stride", 2) : kernel))
          .padding(expanding<2>(l.ints_opt("padding", 2, 0)))
          .ceil_mode(l.bool_opt("ceil_mode", false))
          .count_include_pad(l.bool_opt("count_include_pad", true));
      if (l.has("divisor_override")) o.divisor_override(l.int_opt("divisor_override"));
      return unary(nn::AvgPool2d(o));
    };
    t["AdaptiveAvgPool1d"] = [](L l, C) {
      return unary(nn::AdaptiveAvgPool1d(nn::AdaptiveAvgPool1dOptions(l.ints_opt("output_size", 1)[0])));
    };
    t["AdaptiveAvgPool2d"] = [](L l, C) {
      auto o = l.ints_opt("output_size", 2);
      return unary(nn::AdaptiveAvgPool2d(nn::AdaptiveAvgPool2dOptions({o[0], o[1]})));
    };
    t["Upsample"] = build_upsample;
    t["ReLU"] = [](L l, C) { (void)l.bool_opt("inplace", false); return unary(nn::ReLU()); };
    t["ReLU6"] = [](L l, C) { (void)l.bool_opt("inplace", false); return unary(nn::ReLU6()); };
    t["SiLU"] = [](L l, C) { (void)l.bool_opt("inplace", false); return unary(nn::SiLU()); };
    t["Hardswish"] = [](L l, C) {  // no nn::Hardswish in LibTorch 1.13; it has no tensors
      (void)l.bool_opt("inplace", false);
      return fn([](const Ins& in) { return torch::hardswish(in[0]); });
    };
    t["LeakyReLU"] = [](L l, C) {
      (void)l.bool_opt("inplace", false);
      return unary(nn::LeakyReLU(nn::LeakyReLUOptions().negative_slope(l.float_opt("negative_slope", 0.01))));
    };
    t["GELU"] = [](L l, C) {
      std::string a = l.str_opt("approximate", "none");
      if (a != "none" && a != "tanh")
        throw Error(Exit::model, where(l) + ": option 'approximate' is '" + a + "' (valid: none, tanh)");
      return unary(nn::GELU(nn::GELUOptions().approximate(a)));
    };
    t["Softmax"] = [](L l, C) {
      std::optional<std::int64_t> dim;
      if (l.has("dim")) dim = l.int_opt("dim");
      return BuiltLayer{nullptr, [dim](const Ins& in) {
                          return Outs{torch::softmax(in[0], dim ? *dim : legacy_softmax_dim(in[0]))};
                        }};
    };
    t["Tanh"] = [](L, C) { return unary(nn::Tanh()); };
    t["Sigmoid"] = [](L, C) { return unary(nn::Sigmoid()); };
    t["Identity"] = [](L, C) { return unary(nn::Identity()); };

    // Parameter-free operations: they register nothing.
    t["add"] = [](L, C) {
      return fn([](const Ins& in) {
        at::Tensor r = in[0] + in[1];
        for (std::size_t i = 2; i < in.size(); ++i) r = r + in[i];
        return r;
      });
    };
    t["mul"] = [](L, C) {
      return fn([](const Ins& in) {
        at::Tensor r = in[0] * in[1];
        for (std::size_t i = 2; i < in.size(); ++i) r = r * in[i];
        return r;
      });
    };
    t["sub"] = [](L, C) { return fn([](const Ins& in) { return in[0] - in[1]; }); };
    t["div"] = [](L, C) { return fn([](const Ins& in) { return in[0] / in[1]; }); };
    t["matmul"] = [](L, C) { return fn([](const Ins& in) { return torch::matmul(in[0], in[1]); }); };
    t["cat"] = [](L l, C) {
      auto d = l.int_opt("dim", 0);
      return fn([d](const Ins& in) { return torch::cat(in, d); });
    };
    t["stack"] = [](L l, C) {
      auto d = l.int_opt("dim", 0);
      return fn([d](const Ins& in) { return torch::stack(in, d); });
    };
    t["flatten"] = [](L l, C) {
      auto s = l.int_opt("start_dim", 0), e = l.int_opt("end_dim", -1);
      return fn([s, e](const Ins& in) { return torch::flatten(in[0], s, e); });
    };
    t["reshape"] = [](L l, C) {
      auto s = l.int_list_opt("shape");
      return fn([s](const Ins& in) { return in[0].reshape(s); });
    };
    t["view"] = [](L l, C) {
      auto s = l.int_list_opt("shape");
      return fn([s](const Ins& in) { return in[0].view(s); });
    };
    t["permute"] = [](L l, C) {
      auto d = l.int_list_opt("dims");
      return fn([d](const Ins& in) { return in[0].permute(d); });
    };
    t["transpose"] = [](L l, C) {
      auto a = l.int_opt("dim0"), b = l.int_opt("dim1");
      return fn([a, b](const Ins& in) { return in[0].transpose(a, b); });
    };
    t["contiguous"] = [](L, C) { return fn([](const Ins& in) { return in[0].contiguous(); }); };
    t["chunk"] = [](L l, C) {
      auto n = l.int_opt("chunks"), d = l.int_opt("dim", 0);
      std::string w = where(l);
      return BuiltLayer{nullptr, [n, d, w](const Ins& in) {
                          auto r = torch::chunk(in[0], n, d);
                          if (static_cast<std::int64_t>(r.size()) != n)
                            throw Error(Exit::model, w + ": an input of shape " + shape_str(in[0].sizes()) +
                                                         " gives " + std::to_string(r.size()) + " chunks, not " +
                                                         std::to_string(n));
                          return Outs(r.begin(), r.end());
                        }};
    };
    t["split"] = [](L l, C) {
      auto s = l.int_list_opt("split_size_or_sections");
      auto d = l.int_opt("dim", 0);
      return BuiltLayer{nullptr, [s, d](const Ins& in) {
                          auto r = torch::split_with_sizes(in[0], s, d);
                          return Outs(r.begin(), r.end());
                        }};
    };
    for (const char* name : {"mean", "sum"}) {
      bool mean = std::string(name) == "mean";
      t[name] = [mean](L l, C) {
        bool keep = l.bool_opt("keepdim", false);
        std::optional<std::vector<std::int64_t>> dims;
        if (l.has("dim")) dims = l.int_list_opt("dim");
        return fn([=](const Ins& in) {
          if (!dims) {
            if (!keep) return mean ? in[0].mean() : in[0].sum();
            std::vector<std::int64_t> all(static_cast<std::size_t>(in[0].dim()));
            for (std::size_t i = 0; i < all.size(); ++i) all[i] = static_cast<std::int64_t>(i);
            return mean ? in[0].mean(all, true) : in[0].sum(all, true);
          }
          return mean ? in[0].mean(*dims, keep) : in[0].sum(*dims, keep);
        });
      };
    }
    t["select"] = [](L l, C) {
      auto d = l.int_opt("dim"), i = l.int_opt("index");
      return fn([d, i](const Ins& in) { return in[0].select(d, i); });
    };
    t["slice"] = [](L l, C) {
      auto d = l.int_opt("dim", 0), s = l.int_opt("start", 0), step = l.int_opt("step", 1);
      c10::optional<std::int64_t> e;
      if (l.has("end")) e = l.int_opt("end");
      return fn([=](const Ins& in) { return in[0].slice(d, s, e, step); });
    };
    t["unsqueeze"] = [](L l, C) {
      auto d = l.int_opt("dim");
      return fn([d](const Ins& in) { return in[0].unsqueeze(d); });
    };
    t["squeeze"] = [](L l, C) {
      std::optional<std::int64_t> d;
      if (l.has("dim")) d = l.int_opt("dim");
      return fn([d](const Ins& in) { return d ? in[0].squeeze(*d) : in[0].squeeze(); });
    };
    t["softmax"] = [](L l, C) {
      auto d = l.int_opt("dim");
      return fn([d](const Ins& in) { return torch::softmax(in[0], d); });
    };
    t["log_softmax"] = [](L l, C) {
      auto d = l.int_opt("dim");
      return fn([d](const Ins& in) { return torch::log_softmax(in[0], d); });
    };
    t["relu"] = [](L, C) { return fn([](const Ins& in) { return torch::relu(in[0]); }); };
    t["relu6"] = [](L, C) { return fn([](const Ins& in) { return torch::hardtanh(in[0], 0.0, 6.0); }); };
    t["gelu"] = [](L l, C) {
      auto a = l.str_opt("approximate", "none");
      return fn([a](const Ins& in) { return torch::gelu(in[0], a); });
    };
    t["silu"] = [](L, C) { return fn([](const Ins& in) { return torch::silu(in[0]); }); };
    t["sigmoid"] = [](L, C) { return fn([](const Ins& in) { return torch::sigmoid(in[0]); }); };
    t["tanh"] = [](L, C) { return fn([](const Ins& in) { return torch::tanh(in[0]); }); };
    t["hardswish"] = [](L, C) { return fn([](const Ins& in) { return torch::hardswish(in[0]); }); };
    t["leaky_relu"] = [](L l, C) {
      auto s = l.float_opt("negative_slope", 0.01);
      return fn([s](const Ins& in) { return torch::leaky_relu(in[0], s); });
    };
    t["adaptive_avg_pool2d"] = [](L l, C) {
      auto o = l.ints_opt("output_size", 2);
      return fn([o](const Ins& in) { return torch::adaptive_avg_pool2d(in[0], o); });
    };
    t["arange"] = [](L l, C) {
      auto d = l.int_opt("dim", 0);
      return fn([d](const Ins& in) {
        return torch::arange(in[0].size(d), torch::TensorOptions().dtype(torch::kLong).device(in[0].device()));
      });
    };
    return t;
  }();
  return types;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s.empty() ? "none" : s;
}

/// First line of a c10::Error, without the C++ backtrace.
std::string torch_message(const c10::Error& e) {
  std::string m = e.what_without_backtrace();
  auto nl = m.find('\n');
  if (nl != std::string::npos) m.resize(nl);
  return m;
}

}  // namespace

const std::map<std::string, Builder>& builders() { return registry(); }

// --- the root module ------------------------------------------------------------------

namespace {
/// A container for a dotted path's intermediate modules ("layer1", "layer1.0"): registers
/// children only, as Python's nn.Sequential / nn.ModuleList / a custom nn.Module would.
class Container : public torch::nn::Module {
 public:
  using torch::nn::Module::Module;
};
}  // namespace

ArchModule::ArchModule(const std::string& name, std::vector<std::string> input_names)
    : torch::nn::Module(name), input_names_(std::move(input_names)) {
  last_use_.assign(input_names_.size(), 0);
}

void ArchModule::register_path(const std::string& path, std::shared_ptr<torch::nn::Module> module) {
  torch::nn::Module* parent = this;
  std::size_t start = 0;
  for (;;) {
    auto dot = path.find('.', start);
    std::string seg = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (dot == std::string::npos) {
      parent->register_module(seg, module);
      return;
    }
    std::shared_ptr<torch::nn::Module> child;
    for (const auto& c : parent->named_children())
      if (c.key() == seg) child = c.value();
    if (!child) child = parent->register_module(seg, std::make_shared<Container>(seg));
    parent = child.get();
    start = dot + 1;
  }
}

std::pair<std::size_t, std::size_t> ArchModule::lookup(const std::string& ref, const std::string& where) const {
  auto [name, k] = arch::split_ref(ref);
  for (std::size_t i = 0; i < input_names_.size(); ++i)
    if (input_names_[i] == ref) return {i, 0};
  for (std::size_t i = nodes_.size(); i-- > 0;) {
    if (nodes_[i].name == ref) return {input_names_.size() + i, 0};
    if (nodes_[i].name == name) return {input_names_.size() + i, k};
  }
  throw Error(Exit::model, where + ": input '" + ref + "' is neither a declared input nor an earlier layer");
}

void ArchModule::add_node(const std::string& name, const std::vector<std::string>& inputs, Forward fwd,
                          const std::string& where) {
  Node n{name, {}, std::move(fwd)};
  if (inputs.empty()) {
    if (input_names_.empty()) throw Error(Exit::model, where + ": the architecture declares no input");
    n.inputs.emplace_back(0, 0);
  }
  for (const auto& in : inputs) n.inputs.push_back(lookup(in, where));
  for (auto [i, k] : n.inputs) last_use_[i] = nodes_.size();
  last_use_.push_back(nodes_.size());
  nodes_.push_back(std::move(n));
}

void ArchModule::set_outputs(const std::vector<std::string>& refs) {
  outputs_.clear();
  for (const auto& r : refs) {
    auto o = lookup(r, "outputs");
    outputs_.push_back(o);
    last_use_[o.first] = SIZE_MAX;  // kept to the end
  }
}

std::vector<at::Tensor> ArchModule::forward(std::vector<at::Tensor> inputs) {
  if (inputs.size() != input_names_.size()) {
    throw Error(Exit::model, "forward: the model takes " + std::to_string(input_names_.size()) +
                                 " input(s), got " + std::to_string(inputs.size()));
  }
  if (nodes_.empty()) return {inputs.at(0)};
  std::vector<std::vector<at::Tensor>> values(input_names_.size() + nodes_.size());
  for (std::size_t i = 0; i < inputs.size(); ++i) values[i] = {std::move(inputs[i])};
  std::vector<at::Tensor> args;
  for (std::size_t k = 0; k < nodes_.size(); ++k) {
    const Node& n = nodes_[k];
    args.clear();
    for (auto [i, j] : n.inputs) args.push_back(values[i].at(j));
    values[input_names_.size() + k] = n.forward(args);
    // Drop intermediate values no later node reads.
    for (auto [i, j] : n.inputs)
      if (last_use_[i] == k) values[i].clear();
  }
  if (outputs_.empty()) return {values.back().at(0)};
  std::vector<at::Tensor> out;
  for (auto [i, j] : outputs_) out.push_back(values[i].at(j));
  return out;
}

std::vector<std::pair<std::string, at::Tensor>> module_state(const torch::nn::Module& m,
                                                             bool with_buffers) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  std::function<void(const torch::nn::Module&, const std::string&)> walk =
      [&](const torch::nn::Module& mod, const std::string& prefix) {
        for (const auto& p : mod.named_parameters(/*recurse=*/false))
          if (p.value().defined()) out.emplace_back(prefix + p.key(), p.value());
        if (with_buffers) {
          for (const auto& b : mod.named_buffers(/*recurse=*/false))
            if (b.value().defined()) out.emplace_back(prefix + b.key(), b.value());
        }
        for (const auto& c : mod.named_children()) walk(*c.value(), prefix + c.key() + ".");
      };
  walk(m, "");
  return out;
}

std::shared_ptr<ArchModule> build_module(const arch::Architecture& a) {
  std::string file = a.file.empty() ? "arch.toml" : a.file;
  BuildContext ctx;
  ctx.dtype = scalar_type_from_name(a.dtype, file + ": dtype");
  if (!c10::isFloatingType(ctx.dtype)) {
    throw Error(Exit::model, file + ": dtype '" + a.dtype +
                                 "' is not a floating-point type (valid: float64, float32, float16, bfloat16)");
  }
  std::vector<std::string> input_names;
  for (const auto& in : a.inputs) input_names.push_back(in.name);
  auto root = std::make_shared<ArchModule>(a.name.empty() ? "Model" : a.name, input_names);

  torch::NoGradGuard no_grad;
  const auto& types = builders();
  for (const auto& l : a.layers) {
    auto it = types.find(l.type);
    const arch::detail::LayerType* spec = arch::detail::find_layer_type(l.type);
    if (it == types.end() || !spec) {
      std::vector<std::string> known;
      for (const auto& [k, v] : types) known.push_back(k);
      throw Error(Exit::model, where(l) + ": the LibTorch builder does not know type '" + l.type +
                                   "' (known: " + join(known) + ")");
    }
    arch::detail::validate_layer(l, *spec);
    std::size_t n_in = l.inputs.empty() ? 1 : l.inputs.size();
    if (n_in < spec->arity || n_in > spec->max_inputs) {
      throw Error(Exit::model, where(l) + ": takes " + std::to_string(spec->arity) +
                                   (spec->max_inputs != spec->arity ? " or more" : std::string()) + " input(s), " +
                                   std::to_string(n_in) + " given");
    }
    BuiltLayer built;
    try {
      built = it->second(l, ctx);
      if (built.module && !spec->is_op) root->register_path(l.name, built.module);
    } catch (const c10::Error& e) {
      throw Error(Exit::model, where(l) + ": " + torch_message(e));
    }
    Forward f = [w = where(l), f = std::move(built.forward)](const std::vector<at::Tensor>& in) {
      try {
        return f(in);
      } catch (const c10::Error& e) {
        throw Error(Exit::model, w + ": " + torch_message(e));
      }
    };
    root->add_node(l.name, l.inputs, std::move(f), where(l));
  }
  std::vector<std::string> outs;
  for (const auto& o : a.outputs) outs.push_back(o.ref);
  if (!outs.empty()) root->set_outputs(outs);

  // The architecture's dtype, for floating-point tensors only (as Python's Module.to(dtype):
  // num_batches_tracked stays int64).
  if (ctx.dtype != c10::kFloat) {
    for (auto& [key, t] : module_state(*root)) {
      if (t.is_floating_point()) t.set_data(t.to(ctx.dtype));
    }
  }
  root->eval();
  return root;
}

}  // namespace mvc::model

// --- Model ---------------------------------------------------------------------------

namespace mvc {

namespace {

std::string shape_of_spec(const arch::InputSpec& s) { return arch::shape_str(s.shape); }

/// Checks a forward input against the declared input: dtype and rank, and fixed sizes.
void check_input(const arch::InputSpec& spec, const at::Tensor& x) {
  auto want = model::scalar_type_from_name(spec.dtype, "input '" + spec.name + "'");
  bool ok = x.defined() && x.scalar_type() == want &&
            static_cast<std::size_t>(x.dim()) == spec.shape.size();
  if (ok) {
    for (std::size_t i = 0; i < spec.shape.size(); ++i) {
      if (auto* n = std::get_if<std::int64_t>(&spec.shape[i]); n && x.size(i) != *n) ok = false;
    }
  }
  if (!ok) {
    throw Error(Exit::model, "input '" + spec.name + "': expected " + spec.dtype + " " +
                                 shape_of_spec(spec) + ", got " +
                                 (x.defined() ? model::dtype_name(x.scalar_type()) + " " +
                                                    model::shape_str(x.sizes())
                                              : std::string("an undefined tensor")));
  }
}

at::Tensor run_one(const arch::Architecture& arch, model::ArchModule& root, const at::Tensor& input) {
  if (arch.inputs.size() != 1) {
    throw Error(Exit::model, arch.file + ": forward takes a single input, the architecture declares " +
                                 std::to_string(arch.inputs.size()));
  }
  check_input(arch.inputs[0], input);
  try {
    return root.forward(std::vector<at::Tensor>{input}).at(0);
  } catch (const c10::Error& e) {
    throw Error(Exit::model, "forward of " + arch.file + ": " + model::torch_message(e));
  }
}

}  // namespace

Model Model::build(const ModelSource& source) {
  auto impl = std::make_shared<Impl>();
  impl->arch = arch::parse_architecture(source.arch_toml, source.arch_name, source.hparams_toml,
                                        source.hparams_name);
  if (impl->arch.file.empty()) impl->arch.file = source.arch_name;
  impl->root = model::build_module(impl->arch);
  return Model(std::move(impl));
}

std::shared_ptr<torch::nn::Module> Model::module() const { return impl_->root; }

std::vector<std::pair<std::string, at::Tensor>> Model::run(
    const std::vector<std::pair<std::string, at::Tensor>>& inputs) const {
  const auto& a = impl_->arch;
  std::vector<std::string> missing, unexpected;
  std::vector<at::Tensor> ordered;
  for (const auto& spec : a.inputs) {
    auto it = std::find_if(inputs.begin(), inputs.end(), [&](const auto& p) { return p.first == spec.name; });
    if (it == inputs.end()) {
      missing.push_back(spec.name);
      continue;
    }
    check_input(spec, it->second);
    ordered.push_back(it->second);
  }
  for (const auto& [name, t] : inputs)
    if (std::none_of(a.inputs.begin(), a.inputs.end(), [&](const auto& s) { return s.name == name; }))
      unexpected.push_back(name);
  if (!missing.empty() || !unexpected.empty()) {
    std::vector<std::string> declared;
    for (const auto& s : a.inputs) declared.push_back(s.name);
    std::string msg = a.file + ": the inputs do not match the declared inputs (" +
                      (declared.empty() ? std::string("none") : model::join(declared)) + ")";
    if (!missing.empty()) msg += "; missing: " + model::join(missing);
    if (!unexpected.empty()) msg += "; unexpected: " + model::join(unexpected);
    throw Error(Exit::model, msg);
  }
  torch::NoGradGuard no_grad;
  bool was_training = impl_->root->is_training();
  impl_->root->eval();
  std::vector<at::Tensor> outs;
  try {
    outs = impl_->root->forward(ordered);
  } catch (const c10::Error& e) {
    if (was_training) impl_->root->train();
    throw Error(Exit::model, "forward of " + a.file + ": " + model::torch_message(e));
  } catch (...) {
    if (was_training) impl_->root->train();
    throw;
  }
  if (was_training) impl_->root->train();
  std::vector<std::pair<std::string, at::Tensor>> r;
  for (std::size_t i = 0; i < outs.size(); ++i)
    r.emplace_back(i < a.outputs.size() ? a.outputs[i].name : "output", outs[i]);
  return r;
}

at::Tensor Model::forward(const at::Tensor& input) const {
  torch::NoGradGuard no_grad;
  if (!impl_->root->is_training()) return run_one(impl_->arch, *impl_->root, input);
  // Called in the middle of training: run in eval mode, then give the module its mode back.
  impl_->root->eval();
  struct Restore {
    torch::nn::Module& m;
    ~Restore() { m.train(); }
  } restore{*impl_->root};
  return run_one(impl_->arch, *impl_->root, input);
}

at::Tensor Model::forward_train(const at::Tensor& input) const { return run_one(impl_->arch, *impl_->root, input); }

std::uint64_t Model::parameter_count() const {
  std::uint64_t n = 0;
  for (const auto& [k, t] : model::module_state(*impl_->root, /*with_buffers=*/false))
    n += static_cast<std::uint64_t>(t.numel());
  return n;
}

std::vector<std::pair<std::string, at::Tensor>> Model::state_dict() const {
  auto s = model::module_state(*impl_->root);
  for (auto& [k, t] : s) t = t.detach();
  return s;
}

}  // namespace mvc
