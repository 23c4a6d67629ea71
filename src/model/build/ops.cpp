// The operations family, LibTorch side: Flatten and the parameter-free tensor operations (add,
// cat, reshape, chunk, mean, arange, ...), which register nothing. Mirrors src/arch/types/ops.cpp.
#include <optional>

#include "model/build/family.h"

namespace mvc::model::build {

Builders ops() {
  Builders t;
  t.emplace_back("Flatten", [](L l, C) {
    return unary(
        nn::Flatten(nn::FlattenOptions().start_dim(l.int_opt("start_dim", 1)).end_dim(l.int_opt("end_dim", -1))));
  });
  // Arithmetic and comparisons: two tensors (add, mul: or more), or one tensor and `scalar`
  // (on the left with scalar_first).
  // Arithmetic and comparisons: two tensors (add, mul: or more), or one tensor and `scalar`; with
  // scalar_first the number is on the left, computed as Python's reflected operators do
  // (1 - x is rsub, 2 / x is x.reciprocal() * 2, 1 < x is x > 1).
  using Bin = at::Tensor (*)(const at::Tensor&, const at::Tensor&);
  using BinS = at::Tensor (*)(const at::Tensor&, const at::Scalar&);
  struct Arith {
    const char* name;
    Bin tt;
    BinS ts;   // x op s
    BinS rts;  // s op x
  };
  using T = const at::Tensor&;
  using S = const at::Scalar&;
  static const Arith kArith[] = {
      {"add", [](T a, T b) { return a + b; }, [](T a, S b) { return a + b; }, [](T a, S b) { return a + b; }},
      {"mul", [](T a, T b) { return a * b; }, [](T a, S b) { return a * b; }, [](T a, S b) { return a * b; }},
      {"sub", [](T a, T b) { return a - b; }, [](T a, S b) { return a - b; },
       [](T a, S b) { return torch::rsub(a, b); }},
      {"div", [](T a, T b) { return a / b; }, [](T a, S b) { return a / b; },
       [](T a, S b) { return a.reciprocal() * b; }},
      {"eq", [](T a, T b) { return torch::eq(a, b); }, [](T a, S b) { return torch::eq(a, b); },
       [](T a, S b) { return torch::eq(a, b); }},
      {"ne", [](T a, T b) { return torch::ne(a, b); }, [](T a, S b) { return torch::ne(a, b); },
       [](T a, S b) { return torch::ne(a, b); }},
      {"lt", [](T a, T b) { return torch::lt(a, b); }, [](T a, S b) { return torch::lt(a, b); },
       [](T a, S b) { return torch::gt(a, b); }},
      {"le", [](T a, T b) { return torch::le(a, b); }, [](T a, S b) { return torch::le(a, b); },
       [](T a, S b) { return torch::ge(a, b); }},
      {"gt", [](T a, T b) { return torch::gt(a, b); }, [](T a, S b) { return torch::gt(a, b); },
       [](T a, S b) { return torch::lt(a, b); }},
      {"ge", [](T a, T b) { return torch::ge(a, b); }, [](T a, S b) { return torch::ge(a, b); },
       [](T a, S b) { return torch::le(a, b); }},
  };
  for (const auto& op : kArith) {
    t.emplace_back(op.name, [op](L l, C) {
      if (l.has("scalar")) {
        at::Scalar s = scalar_of(l, "scalar");
        BinS f = l.bool_opt("scalar_first", false) ? op.rts : op.ts;
        return fn([f, s](const Ins& in) { return f(in[0], s); });
      }
      return fn([op](const Ins& in) {
        at::Tensor r = op.tt(in.at(0), in.at(1));
        for (std::size_t i = 2; i < in.size(); ++i) r = op.tt(r, in[i]);
        return r;
      });
    });
  }
  t.emplace_back("masked_fill", [](L l, C) {
    at::Scalar v = scalar_of(l, "value");
    return fn([v](const Ins& in) { return in[0].masked_fill(in[1], v); });
  });
  t.emplace_back("expand", [](L l, C) {
    auto sizes = arch::detail::size_list(l, "size");
    return fn([sizes](const Ins& in) { return in[0].expand(sizes_of(sizes, in)); });
  });
  t.emplace_back("unflatten", [](L l, C) {
    auto d = l.int_opt("dim");
    auto sizes = arch::detail::size_list(l, "sizes");
    return fn([d, sizes](const Ins& in) {
      auto s = sizes_of(sizes, in);
      // torch 1.13's Tensor::unflatten takes no -1: infer it as Python's does.
      auto nd = d < 0 ? d + in[0].dim() : d;
      std::int64_t prod = 1, infer = -1;
      for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == -1)
          infer = static_cast<std::int64_t>(i);
        else
          prod *= s[i];
      }
      if (infer >= 0 && prod != 0) s[static_cast<std::size_t>(infer)] = in[0].size(nd) / prod;
      std::vector<std::int64_t> shape(in[0].sizes().begin(), in[0].sizes().begin() + nd);
      shape.insert(shape.end(), s.begin(), s.end());
      shape.insert(shape.end(), in[0].sizes().begin() + nd + 1, in[0].sizes().end());
      return in[0].view(shape);
    });
  });
  t.emplace_back("pad", [](L l, C) {
    auto p = l.int_list_opt("pad");
    std::string mode = l.str_opt("mode", "constant");
    double value = l.float_opt("value", 0.0);
    return fn([p, mode, value](const Ins& in) {
      namespace F = torch::nn::functional;
      F::PadFuncOptions o(p);
      if (mode == "reflect")
        o.mode(torch::kReflect);
      else if (mode == "replicate")
        o.mode(torch::kReplicate);
      else if (mode == "circular")
        o.mode(torch::kCircular);
      else
        o.mode(torch::kConstant).value(value);
      return F::pad(in[0], o);
    });
  });
  t.emplace_back("matmul", [](L, C) { return fn([](const Ins& in) { return torch::matmul(in[0], in[1]); }); });
  t.emplace_back("cat", [](L l, C) {
    auto d = l.int_opt("dim", 0);
    return fn([d](const Ins& in) { return torch::cat(in, d); });
  });
  t.emplace_back("stack", [](L l, C) {
    auto d = l.int_opt("dim", 0);
    return fn([d](const Ins& in) { return torch::stack(in, d); });
  });
  t.emplace_back("flatten", [](L l, C) {
    auto s = l.int_opt("start_dim", 0), e = l.int_opt("end_dim", -1);
    return fn([s, e](const Ins& in) { return torch::flatten(in[0], s, e); });
  });
  t.emplace_back("reshape", [](L l, C) {
    auto s = arch::detail::size_list(l, "shape");
    return fn([s](const Ins& in) { return in[0].reshape(sizes_of(s, in)); });
  });
  t.emplace_back("view", [](L l, C) {
    auto s = arch::detail::size_list(l, "shape");
    return fn([s](const Ins& in) { return in[0].view(sizes_of(s, in)); });
  });
  t.emplace_back("permute", [](L l, C) {
    auto d = l.int_list_opt("dims");
    return fn([d](const Ins& in) { return in[0].permute(d); });
  });
  t.emplace_back("transpose", [](L l, C) {
    auto a = l.int_opt("dim0"), b = l.int_opt("dim1");
    return fn([a, b](const Ins& in) { return in[0].transpose(a, b); });
  });
  t.emplace_back("contiguous", [](L, C) { return fn([](const Ins& in) { return in[0].contiguous(); }); });
  t.emplace_back("chunk", [](L l, C) {
    auto n = l.int_opt("chunks"), d = l.int_opt("dim", 0);
    std::string w = where(l);
    return BuiltLayer{nullptr, [n, d, w](const Ins& in) {
                        auto r = torch::chunk(in[0], n, d);
                        if (static_cast<std::int64_t>(r.size()) != n)
                          throw Error(Exit::model, w + ": an input of shape " + shape_str(in[0].sizes()) + " gives " +
                                                       std::to_string(r.size()) + " chunks, not " + std::to_string(n));
                        return Outs(r.begin(), r.end());
                      }};
  });
  t.emplace_back("split", [](L l, C) {
    auto s = l.int_list_opt("split_size_or_sections");
    auto d = l.int_opt("dim", 0);
    return BuiltLayer{nullptr, [s, d](const Ins& in) {
                        auto r = torch::split_with_sizes(in[0], s, d);
                        return Outs(r.begin(), r.end());
                      }};
  });
  for (const char* name : {"mean", "sum"}) {
    bool mean = std::string(name) == "mean";
    t.emplace_back(name, [mean](L l, C) {
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
    });
  }
  t.emplace_back("select", [](L l, C) {
    auto d = l.int_opt("dim"), i = l.int_opt("index");
    return fn([d, i](const Ins& in) { return in[0].select(d, i); });
  });
  t.emplace_back("slice", [](L l, C) {
    auto d = l.int_opt("dim", 0), s = l.int_opt("start", 0), step = l.int_opt("step", 1);
    auto end = arch::detail::size_list(l, "end");  // empty: to the end; or a size of another input
    return fn([=](const Ins& in) {
      c10::optional<std::int64_t> e;
      if (!end.empty()) e = sizes_of(end, in).at(0);
      return in[0].slice(d, s, e, step);
    });
  });
  t.emplace_back("unsqueeze", [](L l, C) {
    auto d = l.int_opt("dim");
    return fn([d](const Ins& in) { return in[0].unsqueeze(d); });
  });
  t.emplace_back("squeeze", [](L l, C) {
    std::optional<std::int64_t> d;
    if (l.has("dim")) d = l.int_opt("dim");
    return fn([d](const Ins& in) { return d ? in[0].squeeze(*d) : in[0].squeeze(); });
  });
  t.emplace_back("arange", [](L l, C) {
    auto d = l.int_opt("dim", 0);
    return fn([d](const Ins& in) {
      return torch::arange(in[0].size(d), torch::TensorOptions().dtype(torch::kLong).device(in[0].device()));
    });
  });
  return t;
}

}  // namespace mvc::model::build
