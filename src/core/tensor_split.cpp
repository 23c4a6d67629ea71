#include "core/tensor_split.h"

#include <unistd.h>

#include <algorithm>
#include <optional>

#include "mvc/error.h"
#include "util/fs.h"
#include "weights/safetensors.h"

namespace mvc::core {

namespace {

namespace fs = std::filesystem;

/// The header of the safetensors file `path` (`file_size` bytes), reading only its first 8 + N bytes.
std::optional<weights::SafetensorsHeader> header_of(const fs::path& path, std::uint64_t file_size) {
  try {
    util::Fd in = util::open_read(path);
    unsigned char len[8];
    if (::pread(in.get(), len, 8, 0) != 8) return std::nullopt;
    std::uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | len[i];
    if (n > weights::kMaxHeaderSize || 8 + n > file_size) return std::nullopt;
    std::string json(n, '\0');
    if (::pread(in.get(), json.data(), n, 8) != static_cast<ssize_t>(n)) return std::nullopt;
    return weights::parse_safetensors_header(json, file_size, path.string());
  } catch (const Error&) {
    return std::nullopt;
  }
}

std::vector<const weights::TensorInfo*> by_offset(const weights::SafetensorsHeader& h) {
  std::vector<const weights::TensorInfo*> v;
  for (const auto& t : h.tensors) v.push_back(&t);
  std::sort(v.begin(), v.end(),
            [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  return v;
}

std::vector<std::uint64_t> cuts(const fs::path& file, std::uint64_t size) {
  if (size < 2 * kSegmentMin) return {};
  auto h = header_of(file, size);
  if (!h) return {};
  std::vector<std::uint64_t> out{0};
  std::uint64_t pack_start = h->data_offset, pos = h->data_offset;
  bool pack_open = false;
  for (const auto* t : by_offset(*h)) {
    const std::uint64_t b = h->data_offset + t->begin, e = h->data_offset + t->end;
    if (e == b) continue;
    if (e - b >= kSegmentMin) {
      if (pack_open) out.push_back(pack_start);
      out.push_back(b);
      pack_open = false;
      pos = e;
      continue;
    }
    if (!pack_open) {
      pack_start = b;
      pack_open = true;
    } else if (b - pack_start >= kSegmentMin) {
      out.push_back(pack_start);
      pack_start = b;
    }
    pos = e;
  }
  if (pack_open) out.push_back(pack_start);
  if (pos != size) return {};  // not contiguous to the end: store whole (validated files always are)
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() < 3) return {};
  return out;
}

std::string name(const fs::path& file, std::uint64_t file_size, std::uint64_t begin, std::uint64_t end) {
  if (begin == 0) return "the header";
  auto h = header_of(file, file_size);
  if (!h) return "";
  std::vector<std::string> names;
  for (const auto* t : by_offset(*h)) {
    const std::uint64_t b = h->data_offset + t->begin, e = h->data_offset + t->end;
    if (b < end && e > begin) names.push_back(t->name);
  }
  if (names.empty()) return "";
  if (names.size() == 1) return "tensor '" + names[0] + "'";
  std::string s = "tensors '" + names[0] + "', '" + names[1] + "'";
  if (names.size() > 2) s += " and " + std::to_string(names.size() - 2) + " more";
  return s;
}

}  // namespace

store::Splitter weights_splitter() { return store::Splitter{cuts, name}; }

}  // namespace mvc::core
