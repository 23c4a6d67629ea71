#include "core/example.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <sstream>

#include "core/torch_bridge.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "weights/safetensors.h"

namespace mvc::core {

namespace fs = std::filesystem;

namespace {

std::string num(double d) {
  std::ostringstream o;
  o.precision(6);
  o << d;
  return o.str();
}

double value_at(const char* p, weights::DType t) {
  switch (t) {
    case weights::DType::F32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case weights::DType::F64: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    default:
      return 0;
  }
}

}  // namespace

ExampleCheck compare_outputs(const std::string& recorded_bytes, const std::string& new_bytes, double atol,
                             const std::string& what) {
  auto a = weights::parse_safetensors_bytes(recorded_bytes, what + " (recorded output)");
  auto b = weights::parse_safetensors_bytes(new_bytes, what + " (new output)");
  ExampleCheck r;
  if (a.tensors.size() != b.tensors.size())
    throw Error(Exit::model, what + ": the model now gives " + std::to_string(b.tensors.size()) +
                                 " outputs, the record has " + std::to_string(a.tensors.size()));
  for (const auto& x : a.tensors) {
    const weights::TensorInfo* y = nullptr;
    for (const auto& t : b.tensors)
      if (t.name == x.name) y = &t;
    if (!y) throw Error(Exit::model, what + ": the recorded output '" + x.name + "' is not produced any more");
    if (y->dtype != x.dtype || y->shape != x.shape)
      throw Error(Exit::model, what + ": output '" + x.name + "' changed dtype or shape");
    const char* pa = recorded_bytes.data() + a.data_offset + x.begin;
    const char* pb = new_bytes.data() + b.data_offset + y->begin;
    std::size_t n = x.end - x.begin;
    double diff = 0;
    if (x.dtype == weights::DType::F32 || x.dtype == weights::DType::F64) {
      std::size_t w = x.dtype == weights::DType::F32 ? 4 : 8;
      for (std::size_t i = 0; i < n; i += w) {
        double u = value_at(pa + i, x.dtype), v = value_at(pb + i, x.dtype);
        double d = std::isnan(u) && std::isnan(v) ? 0 : std::abs(u - v);
        if (std::isnan(d)) d = std::numeric_limits<double>::infinity();
        diff = std::max(diff, d);
      }
    } else if (std::memcmp(pa, pb, n) != 0) {
      diff = std::numeric_limits<double>::infinity();
    }
    if (diff > r.max_abs_diff || r.worst.empty()) {
      if (diff >= r.max_abs_diff) {
        r.max_abs_diff = diff;
        r.worst = x.name;
      }
    }
  }
  r.ok = r.max_abs_diff <= atol;
  return r;
}

ExampleCheck verify_example(const Workspace& ws, const std::string& dir, const Pointer& pointer,
                            const ModelSource& source) {
  const ExampleRecord& ex = *pointer.example;
  fs::path tmp = ws.root() / ".mvc" / "tmp";
  fs::create_directories(tmp);
  // The objects' sizes are not recorded: copy_out_verified checks the hash, which fixes them.
  auto size_of = [&](const std::string& sha) {
    auto s = ws.store().file_size(sha);
    if (!s) throw Error(Exit::missing, "object " + sha + " (the example of " + dir + ") is not in the cache");
    return *s;
  };
  util::TempFile in = ws.store().copy_out_verified(ex.input, size_of(ex.input), tmp, "example-in");
  util::TempFile rec = ws.store().copy_out_verified(ex.output, size_of(ex.output), tmp, "example-out");
  util::TempFile out(tmp, "example-new");
  torch_run(source, in.path(), out.path());
  ExampleCheck c = compare_outputs(util::read_file(rec.path()), util::read_file(out.path()), ex.atol, dir);
  if (!c.ok)
    throw Error(Exit::model, (dir.empty() ? std::string(".") : dir) +
                                 ": the example's output differs from the record: largest absolute difference " +
                                 num(c.max_abs_diff) + " in '" + c.worst + "' (atol " + num(ex.atol) + ")");
  return c;
}

}  // namespace mvc::core
