// The recurrent family, LibTorch side: LSTM and GRU. Mirrors src/arch/types/recurrent.cpp.
#include <tuple>
#include <type_traits>

#include "model/build/family.h"

namespace mvc::model::build {

namespace {

template <class Holder, class Options>
BuiltLayer build_rnn(const arch::Layer& l) {
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

}  // namespace

Builders recurrent() {
  Builders t;
  t.emplace_back("LSTM", [](L l, C) { return build_rnn<nn::LSTM, nn::LSTMOptions>(l); });
  t.emplace_back("GRU", [](L l, C) { return build_rnn<nn::GRU, nn::GRUOptions>(l); });
  return t;
}

}  // namespace mvc::model::build
