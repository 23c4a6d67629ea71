#include "core/diff.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <map>
#include <set>

#include "arch/arch.h"
#include "core/model_check.h"
#include "core/model_version.h"
#include "core/toml_view.h"
#include "mvc/error.h"
#include "store/stored_file.h"
#include "util/fs.h"
#include "util/parallel.h"
#include "util/sha256.h"
#include "weights/safetensors.h"

namespace mvc::core {

namespace fs = std::filesystem;
using weights::DType;

// --- reading tensors -----------------------------------------------------------------------

struct TensorFile::Impl {
  bool safetensors = false;
  std::unique_ptr<store::StoredFile> file;
  // safetensors: each entry's [begin, end) in the file
  std::vector<std::pair<std::uint64_t, std::uint64_t>> ranges;
  // torch.save: the checkpoint's description and its zip
  std::optional<weights::TorchCheckpoint> ckpt;
  std::unique_ptr<weights::TorchZip> zip;
  std::vector<const weights::TorchTensorInfo*> infos;
};

TensorFile::TensorFile(const fs::path& path, const weights::StateDictOptions& opts, const std::string& what)
    : TensorFile(std::make_unique<store::StoredFile>(path), opts, what) {}

TensorFile::TensorFile(std::unique_ptr<store::StoredFile> file, const weights::StateDictOptions& opts,
                       const std::string& what)
    : impl_(std::make_unique<Impl>()), what_(what) {
  impl_->file = std::move(file);
  const store::StoredFile& f = *impl_->file;
  // Only safetensors files are stored as segments (the Splitter cuts no other format).
  auto format = f.path().empty() ? weights::WeightsFormat::safetensors : weights::detect_weights_format(f.path());
  if (format == weights::WeightsFormat::safetensors || format == weights::WeightsFormat::unknown) {
    weights::SafetensorsHeader h = f.path().empty() ? weights::read_safetensors_header(
                                                          [&](std::uint64_t off, char* out, std::size_t n) {
                                                            f.read(off, off + n, out, what + ": the header");
                                                          },
                                                          f.size(), what)
                                                    : weights::read_safetensors_header(f.path());
    impl_->safetensors = true;
    std::vector<std::pair<Entry, std::pair<std::uint64_t, std::uint64_t>>> list;
    for (const auto& t : h.tensors) {
      std::string name = t.name;
      if (!opts.strip_prefix.empty() && name.rfind(opts.strip_prefix, 0) == 0 && name.size() > opts.strip_prefix.size())
        name.erase(0, opts.strip_prefix.size());
      list.push_back({Entry{name, t.dtype, t.shape, t.numel()}, {h.data_offset + t.begin, h.data_offset + t.end}});
    }
    std::sort(list.begin(), list.end(), [](auto& x, auto& y) { return x.first.name < y.first.name; });
    for (auto& [e, r] : list) {
      entries_.push_back(std::move(e));
      impl_->ranges.push_back(r);
    }
  } else {
    impl_->ckpt = weights::read_torch_checkpoint(f.path(), opts, what);
    impl_->zip = std::make_unique<weights::TorchZip>(f.path());
    for (const auto& t : impl_->ckpt->tensors) {  // sorted by name
      entries_.push_back(Entry{t.name, t.dtype, t.shape, t.numel()});
      impl_->infos.push_back(&t);
    }
  }
}

TensorFile::~TensorFile() = default;

std::optional<store::Span> TensorFile::span(std::size_t i) const {
  if (!impl_->safetensors) return std::nullopt;
  auto [b, e] = impl_->ranges[i];
  return impl_->file->span(b, e);
}

bool TensorFile::in_place(std::size_t i) const {
  if (!impl_->safetensors) return false;
  auto [b, e] = impl_->ranges[i];
  return b == e || impl_->file->span(b, e) || !impl_->file->path().empty();
}

std::string_view TensorFile::bytes(std::size_t i, std::string& buf) const {
  if (impl_->safetensors) {
    auto [b, e] = impl_->ranges[i];
    return impl_->file->view(b, e, buf, what_ + ": tensor '" + entries_[i].name + "'");
  }
  const weights::TorchTensorInfo& t = *impl_->infos[i];
  const weights::TorchStorageInfo& s = impl_->ckpt->storages.at(t.storage);
  const std::size_t esize = weights::dtype_size(t.dtype);
  const std::uint64_t n = t.numel() * esize;
  if (t.contiguous()) {
    buf.clear();
    buf.reserve(static_cast<std::size_t>(n));
    impl_->zip->read_range(s.entry, t.storage_offset * esize, n, 1 << 20,
                           [&](const char* p, std::size_t k) { buf.append(p, k); });
  } else {
    buf = weights::gather_tensor_bytes(t, impl_->zip->read_storage(s));
  }
  return buf;
}

// --- the arithmetic ------------------------------------------------------------------------

namespace {

double half_to_double(std::uint16_t h) {
  const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double v;
  if (exp == 0)
    v = std::ldexp(static_cast<double>(mant), -24);
  else if (exp == 31)
    v = mant ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  else
    v = std::ldexp(static_cast<double>(mant + 1024), exp - 25);
  return sign ? -v : v;
}

template <typename T>
T load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline double element(DType d, const char* p) {
  switch (d) {
    case DType::F64:
      return load<double>(p);
    case DType::F32:
      return load<float>(p);
    case DType::F16:
      return half_to_double(load<std::uint16_t>(p));
    case DType::BF16: {
      std::uint32_t bits = static_cast<std::uint32_t>(load<std::uint16_t>(p)) << 16;
      return load<float>(reinterpret_cast<const char*>(&bits));
    }
    case DType::I64:
      return static_cast<double>(load<std::int64_t>(p));
    case DType::I32:
      return load<std::int32_t>(p);
    case DType::I16:
      return load<std::int16_t>(p);
    case DType::I8:
      return load<std::int8_t>(p);
    case DType::U8:
      return load<std::uint8_t>(p);
    case DType::BOOL:
      return load<std::uint8_t>(p) ? 1.0 : 0.0;
    case DType::C64:
      break;
  }
  return 0;
}

}  // namespace

namespace {

struct Acc {
  double d2 = 0, a2 = 0, max_abs = 0;
  std::uint64_t differing = 0;
};

#if defined(__SSE2__)
// accumulate_range's four lanes for float32 and bfloat16 (lane l: elements 4k + l), two lanes per
// SSE2 register, the same operations in the same order (equal results to the last bit); returns
// the elements done (a multiple of 4). bfloat16 is float32's upper half: widened by a shift.
template <bool BF16>
std::uint64_t lanes_sse2(const char* a, const char* b, std::uint64_t n, double* a2, double* d2, double* mx,
                         std::uint64_t* dif) {
  __m128d a2lo = _mm_setzero_pd(), a2hi = _mm_setzero_pd(), d2lo = _mm_setzero_pd(), d2hi = _mm_setzero_pd();
  __m128d mxlo = _mm_setzero_pd(), mxhi = _mm_setzero_pd();
  __m128i count = _mm_setzero_si128();  // per lane; a chunk is at most kChunkElements
  const __m128d abs_mask = _mm_castsi128_pd(_mm_set1_epi64x(0x7fffffffffffffffLL));
  const __m128i ones = _mm_set1_epi32(-1);
  std::uint64_t k = 0;
  constexpr std::uint64_t kAhead = 4096 / (BF16 ? 2 : 4);  // elements: a page ahead (prefetchers stop at pages)
  for (; k + 4 <= n; k += 4) {
    if ((k & (BF16 ? 31 : 15)) == 0 && k + kAhead < n) {  // once per 64-byte line of each side
      _mm_prefetch(a + (k + kAhead) * (BF16 ? 2 : 4), _MM_HINT_T0);
      _mm_prefetch(b + (k + kAhead) * (BF16 ? 2 : 4), _MM_HINT_T0);
    }
    __m128i ra, rb;
    if constexpr (BF16) {
      ra = _mm_unpacklo_epi16(_mm_setzero_si128(), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(a + k * 2)));
      rb = _mm_unpacklo_epi16(_mm_setzero_si128(), _mm_loadl_epi64(reinterpret_cast<const __m128i*>(b + k * 2)));
    } else {
      ra = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a + k * 4));
      rb = _mm_loadu_si128(reinterpret_cast<const __m128i*>(b + k * 4));
    }
    const __m128i differ = _mm_xor_si128(_mm_cmpeq_epi32(ra, rb), ones);
    const __m128 fa = _mm_castsi128_ps(ra), fb = _mm_castsi128_ps(rb);
    const __m128d xlo = _mm_cvtps_pd(fa), xhi = _mm_cvtps_pd(_mm_movehl_ps(fa, fa));
    const __m128d ylo = _mm_cvtps_pd(fb), yhi = _mm_cvtps_pd(_mm_movehl_ps(fb, fb));
    const __m128d dlo = _mm_and_pd(_mm_sub_pd(ylo, xlo), _mm_castsi128_pd(_mm_unpacklo_epi32(differ, differ)));
    const __m128d dhi = _mm_and_pd(_mm_sub_pd(yhi, xhi), _mm_castsi128_pd(_mm_unpackhi_epi32(differ, differ)));
    a2lo = _mm_add_pd(a2lo, _mm_mul_pd(xlo, xlo));
    a2hi = _mm_add_pd(a2hi, _mm_mul_pd(xhi, xhi));
    d2lo = _mm_add_pd(d2lo, _mm_mul_pd(dlo, dlo));
    d2hi = _mm_add_pd(d2hi, _mm_mul_pd(dhi, dhi));
    mxlo = _mm_max_pd(_mm_and_pd(dlo, abs_mask), mxlo);  // a NaN difference keeps the max, as std::max
    mxhi = _mm_max_pd(_mm_and_pd(dhi, abs_mask), mxhi);
    count = _mm_sub_epi32(count, differ);
  }
  _mm_storeu_pd(a2, a2lo);
  _mm_storeu_pd(a2 + 2, a2hi);
  _mm_storeu_pd(d2, d2lo);
  _mm_storeu_pd(d2 + 2, d2hi);
  _mm_storeu_pd(mx, mxlo);
  _mm_storeu_pd(mx + 2, mxhi);
  std::uint32_t c[4];
  _mm_storeu_si128(reinterpret_cast<__m128i*>(c), count);
  for (int l = 0; l < 4; ++l) dif[l] = c[l];
  return k;
}
#endif

// Same dtype: an element differs when its bytes do; widened with the dtype known at compile
// time, branch-free over four lanes so that the loop over a large tensor stays tight.
template <DType D, typename Raw>
Acc accumulate_range(const char* a, const char* b, std::uint64_t n) {
  constexpr int L = 4;
  double a2[L] = {}, d2[L] = {}, mx[L] = {};
  std::uint64_t dif[L] = {};
  std::uint64_t k = 0;
#if defined(__SSE2__)
  if constexpr (D == DType::F32 || D == DType::BF16) k = lanes_sse2<D == DType::BF16>(a, b, n, a2, d2, mx, dif);
#endif
  auto step = [&](int l, std::uint64_t k) {
    Raw ra, rb;
    std::memcpy(&ra, a + k * sizeof(Raw), sizeof(Raw));
    std::memcpy(&rb, b + k * sizeof(Raw), sizeof(Raw));
    const double x = element(D, a + k * sizeof(Raw));
    const double y = element(D, b + k * sizeof(Raw));
    const bool differ = ra != rb;
    const double d = differ ? y - x : 0.0;
    a2[l] += x * x;
    d2[l] += d * d;
    mx[l] = std::max(mx[l], std::fabs(d));
    dif[l] += differ;
  };
  for (; k + L <= n; k += L)
    for (int l = 0; l < L; ++l) step(l, k + static_cast<std::uint64_t>(l));
  for (; k < n; ++k) step(0, k);
  Acc acc;
  for (int l = 0; l < L; ++l) {
    acc.a2 += a2[l];
    acc.d2 += d2[l];
    acc.max_abs = std::max(acc.max_abs, mx[l]);
    acc.differing += dif[l];
  }
  return acc;
}

// Large tensors are cut into chunks compared on all cores; the partial sums are added in
// chunk order, so the result does not depend on the threads' timing.
template <DType D, typename Raw>
void accumulate_same(const char* a, const char* b, std::uint64_t n, Acc& acc) {
  constexpr std::uint64_t kChunk = 1u << 20;  // elements (kChunkElements)
  const std::size_t chunks = static_cast<std::size_t>((n + kChunk - 1) / kChunk);
  std::vector<Acc> part(chunks);
  auto run = [&](std::size_t c) {
    const std::uint64_t begin = c * kChunk, len = std::min<std::uint64_t>(kChunk, n - begin);
    part[c] = accumulate_range<D, Raw>(a + begin * sizeof(Raw), b + begin * sizeof(Raw), len);
  };
  if (chunks > 1)
    util::parallel_for(chunks, run);
  else if (chunks == 1)
    run(0);
  for (const Acc& p : part) {
    acc.a2 += p.a2;
    acc.d2 += p.d2;
    acc.max_abs = std::max(acc.max_abs, p.max_abs);
    acc.differing += p.differing;
  }
}

// One chunk of a same-dtype comparison, the dtype known at run time.
Acc accumulate_chunk(DType d, const char* a, const char* b, std::uint64_t n) {
  switch (d) {
    case DType::F64:
      return accumulate_range<DType::F64, std::uint64_t>(a, b, n);
    case DType::F32:
      return accumulate_range<DType::F32, std::uint32_t>(a, b, n);
    case DType::F16:
      return accumulate_range<DType::F16, std::uint16_t>(a, b, n);
    case DType::BF16:
      return accumulate_range<DType::BF16, std::uint16_t>(a, b, n);
    case DType::I64:
      return accumulate_range<DType::I64, std::uint64_t>(a, b, n);
    case DType::I32:
      return accumulate_range<DType::I32, std::uint32_t>(a, b, n);
    case DType::I16:
      return accumulate_range<DType::I16, std::uint16_t>(a, b, n);
    case DType::I8:
      return accumulate_range<DType::I8, std::uint8_t>(a, b, n);
    case DType::U8:
      return accumulate_range<DType::U8, std::uint8_t>(a, b, n);
    case DType::BOOL:
      return accumulate_range<DType::BOOL, std::uint8_t>(a, b, n);
    case DType::C64:
      break;
  }
  return {};
}

TensorStats to_stats(const Acc& acc, std::uint64_t n) {
  TensorStats s;
  s.differing = acc.differing;
  // A NaN in a changed element (or a difference inf - inf) makes the sum of squared differences
  // NaN, which the maximum (std::max, _mm_max_pd) would skip: the largest change is then not a
  // number either, so that a run that diverged to NaN never reads as "max |B-A| 0".
  s.max_abs = std::isnan(acc.d2) ? std::numeric_limits<double>::quiet_NaN() : acc.max_abs;
  s.fraction = n ? static_cast<double>(acc.differing) / static_cast<double>(n) : 0;
  if (acc.differing == 0)
    s.relative = 0;
  else if (acc.a2 == 0)
    s.relative = std::numeric_limits<double>::infinity();
  else
    s.relative = std::sqrt(acc.d2) / std::sqrt(acc.a2);
  return s;
}

constexpr std::uint64_t kChunkElements = 1u << 20;

}  // namespace

TensorStats compare_tensor(DType da, std::string_view a, DType db, std::string_view b, std::uint64_t n,
                           const std::string& what, const std::string& name) {
  for (DType d : {da, db})
    if (d == DType::C64)
      throw Error(Exit::model, what + ": tensor '" + name + "': dtype " + std::string(weights::torch_name(d)) +
                                   " cannot be widened to a real number for comparison");
  Acc acc;
  if (da == db) {
    const char *pa = a.data(), *pb = b.data();
    switch (da) {
      case DType::F64:
        accumulate_same<DType::F64, std::uint64_t>(pa, pb, n, acc);
        break;
      case DType::F32:
        accumulate_same<DType::F32, std::uint32_t>(pa, pb, n, acc);
        break;
      case DType::F16:
        accumulate_same<DType::F16, std::uint16_t>(pa, pb, n, acc);
        break;
      case DType::BF16:
        accumulate_same<DType::BF16, std::uint16_t>(pa, pb, n, acc);
        break;
      case DType::I64:
        accumulate_same<DType::I64, std::uint64_t>(pa, pb, n, acc);
        break;
      case DType::I32:
        accumulate_same<DType::I32, std::uint32_t>(pa, pb, n, acc);
        break;
      case DType::I16:
        accumulate_same<DType::I16, std::uint16_t>(pa, pb, n, acc);
        break;
      case DType::I8:
        accumulate_same<DType::I8, std::uint8_t>(pa, pb, n, acc);
        break;
      case DType::U8:
        accumulate_same<DType::U8, std::uint8_t>(pa, pb, n, acc);
        break;
      case DType::BOOL:
        accumulate_same<DType::BOOL, std::uint8_t>(pa, pb, n, acc);
        break;
      case DType::C64:
        break;
    }
  } else {
    // Different dtypes: an element differs when its widened values do (NaN equals NaN).
    const std::size_t sa = weights::dtype_size(da), sb = weights::dtype_size(db);
    for (std::uint64_t k = 0; k < n; ++k) {
      const double x = element(da, a.data() + k * sa), y = element(db, b.data() + k * sb);
      acc.a2 += x * x;
      if (x == y || (std::isnan(x) && std::isnan(y))) continue;
      const double d = y - x;
      ++acc.differing;
      acc.d2 += d * d;
      acc.max_abs = std::max(acc.max_abs, std::fabs(d));
    }
  }
  return to_stats(acc, n);
}

std::string change_name(TensorDiff::Change c) {
  switch (c) {
    case TensorDiff::Change::unchanged:
      return "unchanged";
    case TensorDiff::Change::changed:
      return "changed";
    case TensorDiff::Change::added:
      return "added";
    case TensorDiff::Change::removed:
      return "removed";
    case TensorDiff::Change::shape:
      return "shape";
    case TensorDiff::Change::dtype:
      return "dtype";
  }
  return "?";
}

std::size_t WeightsDiff::changed_tensors() const {
  return static_cast<std::size_t>(std::count_if(
      tensors.begin(), tensors.end(), [](const TensorDiff& t) { return t.change != TensorDiff::Change::unchanged; }));
}

WeightsDiff diff_weights(const TensorFile& a, const TensorFile& b) { return diff_weights({&a}, {&b}); }

namespace {

// A tensor of one side: which file, which entry.
struct Ref {
  const TensorFile* file;
  std::size_t index;
  const TensorFile::Entry& entry() const { return file->tensors()[index]; }
};

std::vector<Ref> by_name(const std::vector<const TensorFile*>& files) {
  std::vector<Ref> out;
  for (const TensorFile* f : files)
    for (std::size_t i = 0; i < f->tensors().size(); ++i) out.push_back({f, i});
  std::stable_sort(out.begin(), out.end(), [](const Ref& x, const Ref& y) { return x.entry().name < y.entry().name; });
  for (std::size_t k = 1; k < out.size(); ++k)
    if (out[k].entry().name == out[k - 1].entry().name)
      throw Error(Exit::model, "tensor '" + out[k].entry().name + "' is in two files: " + out[k - 1].file->what() +
                                   " and " + out[k].file->what());
  return out;
}

// A pair of same-shape tensors to compare, with their bytes once read.
struct Work {
  std::size_t out;  // index in WeightsDiff::tensors
  Ref a, b;
  std::string_view ba, bb;
  std::string buf_a, buf_b;
  std::size_t first_chunk = 0, chunks = 0;  // same dtype: its chunks in the batch's list
};

// The pairs of one batch: same-dtype pairs are compared chunk by chunk on all cores, first byte
// for byte (an equal chunk is not widened unless another chunk of its tensor differs: ‖A‖₂ needs
// it), and the partial sums added in chunk order, as compare_tensor adds them (equal results).
void run_batch(std::deque<Work>& batch, WeightsDiff& w) {
  struct Chunk {
    std::size_t work;
    std::uint64_t begin, len;  // elements
    bool equal = false;
    Acc acc;
  };
  std::vector<Chunk> chunks;
  for (std::size_t k = 0; k < batch.size(); ++k) {
    Work& x = batch[k];
    const auto& ea = x.a.entry();
    const auto& eb = x.b.entry();
    if (ea.dtype != eb.dtype || ea.dtype == DType::C64) continue;
    x.first_chunk = chunks.size();
    for (std::uint64_t e = 0; e < eb.numel; e += kChunkElements)
      chunks.push_back({k, e, std::min<std::uint64_t>(kChunkElements, eb.numel - e), false, Acc{}});
    x.chunks = chunks.size() - x.first_chunk;
  }
  auto compare = [&](std::size_t c) {
    Chunk& ch = chunks[c];
    const Work& x = batch[ch.work];
    const std::size_t es = weights::dtype_size(x.b.entry().dtype);
    const char* pa = x.ba.data() + ch.begin * es;
    const char* pb = x.bb.data() + ch.begin * es;
    ch.equal = std::memcmp(pa, pb, static_cast<std::size_t>(ch.len * es)) == 0;
    if (!ch.equal) ch.acc = accumulate_chunk(x.b.entry().dtype, pa, pb, ch.len);
  };
  util::parallel_for(chunks.size(), compare);
  // Tensors with a differing chunk: their equal chunks count in ‖A‖₂.
  std::vector<std::size_t> again;
  for (const Work& x : batch) {
    bool any = false;
    for (std::size_t c = x.first_chunk; c < x.first_chunk + x.chunks; ++c) any = any || !chunks[c].equal;
    if (any)
      for (std::size_t c = x.first_chunk; c < x.first_chunk + x.chunks; ++c)
        if (chunks[c].equal) again.push_back(c);
  }
  util::parallel_for(again.size(), [&](std::size_t k) {
    Chunk& ch = chunks[again[k]];
    const Work& x = batch[ch.work];
    const std::size_t es = weights::dtype_size(x.b.entry().dtype);
    ch.acc = accumulate_chunk(x.b.entry().dtype, x.ba.data() + ch.begin * es, x.bb.data() + ch.begin * es, ch.len);
  });
  for (Work& x : batch) {
    const auto& ea = x.a.entry();
    const auto& eb = x.b.entry();
    TensorDiff& t = w.tensors[x.out];
    if (ea.dtype == eb.dtype && ea.dtype != DType::C64) {
      Acc acc;
      bool equal = true;
      for (std::size_t c = x.first_chunk; c < x.first_chunk + x.chunks; ++c) {
        const Chunk& ch = chunks[c];
        equal = equal && ch.equal;
        acc.a2 += ch.acc.a2;
        acc.d2 += ch.acc.d2;
        acc.max_abs = std::max(acc.max_abs, ch.acc.max_abs);
        acc.differing += ch.acc.differing;
      }
      // identical bytes: unchanged; else -0.0 vs 0.0 differ in bytes only
      t.change = !equal && acc.differing ? TensorDiff::Change::changed : TensorDiff::Change::unchanged;
      if (t.change == TensorDiff::Change::changed) t.stats = to_stats(acc, eb.numel);
    } else if (ea.dtype == eb.dtype && x.ba == x.bb) {
      t.change = TensorDiff::Change::unchanged;  // identical bytes of a dtype mvc cannot widen
    } else {
      t.stats = compare_tensor(ea.dtype, x.ba, eb.dtype, x.bb, eb.numel, x.b.file->what(), eb.name);
      t.change = TensorDiff::Change::dtype;
    }
    if (t.change != TensorDiff::Change::unchanged) w.parameters_changed += eb.numel;
  }
  batch.clear();
}

}  // namespace

WeightsDiff diff_weights(const std::vector<const TensorFile*>& fa, const std::vector<const TensorFile*>& fb) {
  WeightsDiff w;
  const std::vector<Ref> ta = by_name(fa), tb = by_name(fb);
  std::deque<Work> batch;  // a deque: a Work's views into its own buffers stay valid as it grows
  // Bytes copied out of the files (torch.save tensors, tensors across segments) held by one
  // batch: past this the batch is compared before more is read (a larger tensor goes alone).
  constexpr std::uint64_t kBatchCopied = 32u << 20;
  std::uint64_t copied = 0;
  std::size_t i = 0, j = 0;
  while (i < ta.size() || j < tb.size()) {
    TensorDiff t;
    if (j == tb.size() || (i < ta.size() && ta[i].entry().name < tb[j].entry().name)) {
      const auto& e = ta[i].entry();
      t.name = e.name;
      t.change = TensorDiff::Change::removed;
      t.dtype_a = weights::torch_name(e.dtype);
      t.shape_a = e.shape;
      t.numel = e.numel;
      ++i;
      w.tensors.push_back(std::move(t));
      continue;
    }
    if (i == ta.size() || tb[j].entry().name < ta[i].entry().name) {
      const auto& e = tb[j].entry();
      t.name = e.name;
      t.change = TensorDiff::Change::added;
      t.dtype_b = weights::torch_name(e.dtype);
      t.shape_b = e.shape;
      t.numel = e.numel;
      w.parameters_total += t.numel;
      w.parameters_changed += t.numel;
      ++j;
      w.tensors.push_back(std::move(t));
      continue;
    }
    const Ref ra = ta[i], rb = tb[j];
    ++i;
    ++j;
    const auto& ea = ra.entry();
    const auto& eb = rb.entry();
    t.name = eb.name;
    t.dtype_a = weights::torch_name(ea.dtype);
    t.dtype_b = weights::torch_name(eb.dtype);
    t.shape_a = ea.shape;
    t.shape_b = eb.shape;
    t.numel = eb.numel;
    w.parameters_total += eb.numel;
    if (ea.shape != eb.shape) {
      t.change = TensorDiff::Change::shape;
      w.parameters_changed += eb.numel;
      w.tensors.push_back(std::move(t));
      continue;
    }
    if (ea.dtype == eb.dtype) {
      auto sa = ra.file->span(ra.index), sb = rb.file->span(rb.index);
      if (sa && sb && *sa == *sb) {  // the same bytes of the same object: unchanged, nothing read
        t.change = TensorDiff::Change::unchanged;
        w.tensors.push_back(std::move(t));
        continue;
      }
    }
    w.tensors.push_back(std::move(t));
    Work x{w.tensors.size() - 1, ra, rb, {}, {}, {}, {}, 0, 0};
    const std::uint64_t more = (ra.file->in_place(ra.index) ? 0 : ea.numel * weights::dtype_size(ea.dtype)) +
                               (rb.file->in_place(rb.index) ? 0 : eb.numel * weights::dtype_size(eb.dtype));
    if (!batch.empty() && copied + more > kBatchCopied) {
      run_batch(batch, w);
      copied = 0;
    }
    batch.push_back(std::move(x));
    copied += more;
    Work& y = batch.back();
    y.ba = ra.file->bytes(ra.index, y.buf_a);
    y.bb = rb.file->bytes(rb.index, y.buf_b);
  }
  if (!batch.empty()) run_batch(batch, w);
  return w;
}

// --- values and architectures --------------------------------------------------------------

std::vector<ValueChange> diff_values(const std::vector<std::pair<std::string, std::string>>& a,
                                     const std::vector<std::pair<std::string, std::string>>& b) {
  std::map<std::string, std::string> mb(b.begin(), b.end()), ma(a.begin(), a.end());
  std::vector<ValueChange> out;
  for (const auto& [k, v] : a) {
    auto it = mb.find(k);
    if (it == mb.end())
      out.push_back({k, v, std::nullopt});
    else if (it->second != v)
      out.push_back({k, v, it->second});
  }
  for (const auto& [k, v] : b)
    if (!ma.count(k)) out.push_back({k, std::nullopt, v});
  return out;
}

std::optional<double> as_number(const std::string& v) {
  if (v.empty() || v[0] == '"' || v == "true" || v == "false") return std::nullopt;
  std::string s;
  for (char c : v)
    if (c != '_') s += c;
  try {
    std::size_t used = 0;
    double d = std::stod(s, &used);
    if (used == s.size()) return d;
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

namespace {

std::string value_str(const arch::Value& v) {
  switch (v.kind) {
    case arch::Value::Kind::boolean:
      return v.b ? "true" : "false";
    case arch::Value::Kind::integer:
      return std::to_string(v.i);
    case arch::Value::Kind::floating: {
      char b[32];
      std::snprintf(b, sizeof b, "%.17g", v.f);
      // the shortest form that reads back
      for (int p = 1; p <= 17; ++p) {
        char c[32];
        std::snprintf(c, sizeof c, "%.*g", p, v.f);
        if (std::strtod(c, nullptr) == v.f) {
          std::string s = c;
          if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
          return s;
        }
      }
      return b;
    }
    case arch::Value::Kind::string:
      return "\"" + v.s + "\"";
    case arch::Value::Kind::array: {
      std::string s = "[";
      for (std::size_t k = 0; k < v.items.size(); ++k) s += (k ? ", " : "") + value_str(v.items[k]);
      return s + "]";
    }
  }
  return "?";
}

std::string list_str(const std::vector<std::string>& l) {
  std::string s = "[";
  for (std::size_t k = 0; k < l.size(); ++k) s += (k ? ", " : "") + l[k];
  return s + "]";
}

std::map<std::string, std::string> layer_options(const arch::Layer& l) {
  std::map<std::string, std::string> m;
  for (const auto& [k, v] : l.options) m[k] = value_str(v);
  m["inputs"] = list_str(l.inputs);
  if (!l.run) m["run"] = "false";
  if (!l.shares.empty()) m["shares"] = "\"" + l.shares + "\"";
  return m;
}

void diff_field(std::vector<ValueChange>& out, const std::string& key, const std::optional<std::string>& a,
                const std::optional<std::string>& b) {
  if (a != b) out.push_back({key, a, b});
}

ArchDiff diff_arch(const arch::Architecture& a, const arch::Architecture& b) {
  ArchDiff d;
  diff_field(d.header, "name", a.name, b.name);
  diff_field(d.header, "dtype", a.dtype, b.dtype);
  std::map<std::string, std::string> ia, ib, oa, ob;
  for (auto& in : a.inputs) ia[in.name] = arch::shape_str(in.shape) + " " + in.dtype;
  for (auto& in : b.inputs) ib[in.name] = arch::shape_str(in.shape) + " " + in.dtype;
  for (auto& o : a.outputs) oa[o.name] = o.ref;
  for (auto& o : b.outputs) ob[o.name] = o.ref;
  auto pairs = [&](const std::string& prefix, const std::map<std::string, std::string>& x,
                   const std::map<std::string, std::string>& y) {
    std::set<std::string> keys;
    for (auto& [k, v] : x) keys.insert(k);
    for (auto& [k, v] : y) keys.insert(k);
    for (auto& k : keys) {
      auto fx = x.find(k);
      auto fy = y.find(k);
      diff_field(d.header, prefix + k, fx == x.end() ? std::nullopt : std::optional<std::string>(fx->second),
                 fy == y.end() ? std::nullopt : std::optional<std::string>(fy->second));
    }
  };
  pairs("input ", ia, ib);
  pairs("output ", oa, ob);

  auto sa = arch::summarize(a), sb = arch::summarize(b);
  std::map<std::string, std::size_t> by_a, by_b;
  for (std::size_t k = 0; k < a.layers.size(); ++k) by_a[a.layers[k].name] = k;
  for (std::size_t k = 0; k < b.layers.size(); ++k) by_b[b.layers[k].name] = k;
  for (auto& r : sa) d.parameters_a += r.parameters;
  for (auto& r : sb) d.parameters_b += r.parameters;
  for (std::size_t k = 0; k < b.layers.size(); ++k) {
    const arch::Layer& lb = b.layers[k];
    LayerDiff ld;
    ld.name = lb.name;
    ld.type_b = lb.type;
    ld.shape_b = sb[k].output_shape;
    ld.parameters_b = sb[k].parameters;
    auto it = by_a.find(lb.name);
    if (it == by_a.end()) {
      ld.change = LayerDiff::Change::added;
      d.layers.push_back(std::move(ld));
      continue;
    }
    const arch::Layer& la = a.layers[it->second];
    ld.type_a = la.type;
    ld.shape_a = sa[it->second].output_shape;
    ld.parameters_a = sa[it->second].parameters;
    auto oa_ = layer_options(la), ob_ = layer_options(lb);
    std::set<std::string> keys;
    for (auto& [key, v] : oa_) keys.insert(key);
    for (auto& [key, v] : ob_) keys.insert(key);
    for (auto& key : keys) {
      auto fa = oa_.find(key);
      auto fb = ob_.find(key);
      diff_field(ld.options, key, fa == oa_.end() ? std::nullopt : std::optional<std::string>(fa->second),
                 fb == ob_.end() ? std::nullopt : std::optional<std::string>(fb->second));
    }
    if (ld.type_a != ld.type_b || !ld.options.empty() || ld.shape_a != ld.shape_b || ld.parameters_a != ld.parameters_b)
      d.layers.push_back(std::move(ld));
  }
  for (std::size_t k = 0; k < a.layers.size(); ++k) {
    if (by_b.count(a.layers[k].name)) continue;
    LayerDiff ld;
    ld.name = a.layers[k].name;
    ld.change = LayerDiff::Change::removed;
    ld.type_a = a.layers[k].type;
    ld.shape_a = sa[k].output_shape;
    ld.parameters_a = sa[k].parameters;
    d.layers.push_back(std::move(ld));
  }
  return d;
}

std::vector<std::pair<std::string, std::string>> flat(const std::optional<std::string>& text, const std::string& name) {
  if (!text) return {};
  return flatten_toml(*text, name);
}

// The weights a side holds: its object's sha256, and how to get a verified file of it.
struct SideWeights {
  std::string sha256;      ///< the file's, or shards_digest of every file
  bool work_tree = false;  ///< read `work_files`; else the pointer's files from the store (stored_weights_files)
  std::vector<std::pair<fs::path, std::string>> work_files;  ///< the work tree's files to read, with their names
  std::string what;
  std::string suffix;  ///< " at REV", " (in the index)" or ""
  weights::StateDictOptions opts;
};

// The tensors of one side, its files read in place (the store's unverified: see stored_weights_files).
std::vector<std::unique_ptr<TensorFile>> open_side(Workspace& ws, const ModelVersion& v, const SideWeights& s) {
  std::vector<std::unique_ptr<TensorFile>> out;
  if (s.work_tree) {
    for (const auto& [path, what] : s.work_files) out.push_back(std::make_unique<TensorFile>(path, s.opts, what));
    return out;
  }
  auto files = stored_weights_files(ws, v);
  const auto recs = v.require_pointer().pointer.files();
  for (std::size_t i = 0; i < files.size(); ++i)
    out.push_back(std::make_unique<TensorFile>(std::move(files[i]), s.opts,
                                               recs.size() == 1 ? s.what : join(v.dir, recs[i].path) + s.suffix));
  return out;
}

std::optional<SideWeights> side_weights(Workspace& ws, const ModelVersion& v) {
  SideWeights s;
  if (v.pointer) {
    s.opts.key = v.pointer->pointer.load.key;
    s.opts.strip_prefix = v.pointer->pointer.load.strip_prefix;
  }
  s.suffix = v.in_work_tree() ? "" : v.in_index() ? " (in the index)" : " at " + v.rev;
  if (v.pointer && v.pointer->pointer.sharded()) {
    std::vector<std::pair<std::string, std::string>> files;
    std::vector<std::string> rels;
    s.work_tree = v.in_work_tree();
    for (const auto& f : v.pointer->pointer.files()) {
      rels.push_back(join(v.dir, f.path));
      std::string sha = f.sha256;
      if (v.in_work_tree()) {
        struct stat st {};
        const std::string rel = join(v.dir, f.path);
        sha = ::stat((ws.root() / rel).c_str(), &st) == 0 && S_ISREG(st.st_mode) ? ws.hash_file(rel) : "";
        if (!sha.empty())
          s.work_files.emplace_back(ws.root() / rel, rel);  // an absent shard: its tensors are not there
      }
      files.emplace_back(f.path, sha);
    }
    s.sha256 = shards_digest(files);
    s.what = shards_display(v.dir, rels) + s.suffix;
    return s;
  }
  if (v.in_work_tree()) {
    // The work tree's weights are its file, committed or not (as git diff reads the file).
    std::string rel = v.pointer ? v.pointer->weights_rel() : std::string();
    if (rel.empty())
      if (std::string n = choose_weights_file(ws.root() / v.dir, v.describe()); !n.empty()) rel = join(v.dir, n);
    struct stat st {};
    if (!rel.empty() && ::stat((ws.root() / rel).c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
      s.sha256 = ws.hash_file(rel);
      s.work_tree = true;
      s.work_files.emplace_back(ws.root() / rel, rel);
      s.what = rel;
      return s;
    }
  }
  if (!v.pointer) return std::nullopt;
  s.sha256 = v.pointer->pointer.sha256;
  s.what = v.pointer->weights_rel() + s.suffix;
  return s;
}

}  // namespace

DiffResult diff_versions(Workspace& ws, const DiffRequest& req) {
  DiffResult out;
  // Unknown revisions first, whatever the paths.
  for (const std::string* r : {&req.rev_a, &req.rev_b})
    if (!r->empty() && *r != kIndexRev) ws.git().resolve_commit(*r);
  std::vector<std::string> dirs;
  const bool explicit_dirs = !req.dirs.empty();
  if (explicit_dirs) {
    for (auto& d : req.dirs) dirs.push_back(normalize_dir(d));
  } else {
    std::set<std::string> all;
    for (const std::string* r : {&req.rev_a, &req.rev_b})
      for (auto& d : model_dirs_of(ws, *r)) all.insert(d);
    dirs.assign(all.begin(), all.end());
  }
  std::sort(dirs.begin(), dirs.end());
  dirs.erase(std::unique(dirs.begin(), dirs.end()), dirs.end());

  // Resolve every side before reading any weights, so bad input fails before work is done.
  struct Pair {
    std::string dir;
    std::optional<ModelVersion> a, b;
  };
  std::vector<Pair> pairs;
  std::set<std::string> in_a, in_b;
  if (!explicit_dirs) {
    for (auto& d : model_dirs_of(ws, req.rev_a)) in_a.insert(d);
    for (auto& d : model_dirs_of(ws, req.rev_b)) in_b.insert(d);
  }
  for (auto& d : dirs) {
    Pair p{d, std::nullopt, std::nullopt};
    if (explicit_dirs || in_a.count(d)) p.a = resolve_version(ws, req.rev_a, d);
    if (explicit_dirs || in_b.count(d)) p.b = resolve_version(ws, req.rev_b, d);
    pairs.push_back(std::move(p));
  }

  for (auto& p : pairs) {
    ModelDiff m;
    m.dir = p.dir;
    if (!p.a || !p.b) {
      m.status = p.a ? ModelDiff::Status::removed : ModelDiff::Status::added;
      const ModelVersion& v = p.a ? *p.a : *p.b;
      arch::Architecture x =
          arch::parse_architecture(v.arch_text, v.arch_name, v.hparams_text.value_or(""), v.hparams_name);
      for (auto& r : arch::summarize(x)) (p.a ? m.arch.parameters_a : m.arch.parameters_b) += r.parameters;
      auto w = req.weights ? side_weights(ws, v) : std::nullopt;
      (p.a ? m.weights_a : m.weights_b) = w ? w->sha256 : v.pointer ? v.pointer->pointer.weights_digest() : "";
      out.models.push_back(std::move(m));
      continue;
    }
    const ModelVersion& a = *p.a;
    const ModelVersion& b = *p.b;
    auto wa = req.weights ? side_weights(ws, a) : std::nullopt;
    auto wb = req.weights ? side_weights(ws, b) : std::nullopt;
    m.weights_a = wa ? wa->sha256 : "";
    m.weights_b = wb ? wb->sha256 : "";
    if (!req.weights && a.pointer && b.pointer) {  // recorded, not read; sharded: every file counts
      m.weights_a = a.pointer->pointer.weights_digest();
      m.weights_b = b.pointer->pointer.weights_digest();
    }
    const bool same_files =
        a.arch_text == b.arch_text && a.hparams_text == b.hparams_text && a.metrics_text == b.metrics_text;
    if (same_files && m.weights_a == m.weights_b) continue;  // nothing differs: not listed
    arch::Architecture xa =
        arch::parse_architecture(a.arch_text, a.arch_name, a.hparams_text.value_or(""), a.hparams_name);
    arch::Architecture xb =
        arch::parse_architecture(b.arch_text, b.arch_name, b.hparams_text.value_or(""), b.hparams_name);
    m.arch = diff_arch(xa, xb);
    m.hparams = diff_values(flat(a.hparams_text, a.hparams_name), flat(b.hparams_text, b.hparams_name));
    m.metrics = diff_values(flat(a.metrics_text, a.metrics_name), flat(b.metrics_text, b.metrics_name));
    if (req.weights && wa && wb && wa->sha256 != wb->sha256) {
      // Different objects (or sets of shards): read both in place, tensor by tensor, matched by
      // name across files (a tensor may move between shards).
      auto fa = open_side(ws, a, *wa);
      auto fb = open_side(ws, b, *wb);
      std::vector<const TensorFile*> la, lb;
      for (auto& f : fa) la.push_back(f.get());
      for (auto& f : fb) lb.push_back(f.get());
      m.weights = diff_weights(la, lb);
      m.weights_compared = true;
    }
    out.models.push_back(std::move(m));
  }
  ws.save_state();
  return out;
}

}  // namespace mvc::core
