// safetensors reader and writer, torch-free. See safetensors.h for the rules.
#include "weights/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

#include "mvc/error.h"
#include "util/fs.h"
#include "util/text.h"

namespace mvc::weights {

namespace {

using nlohmann::json;

constexpr std::string_view kMetadataKey = "__metadata__";
// A valid header nests three deep (root object, tensor entry, shape array). Anything deeper is
// invalid anyway; refusing it early keeps hostile headers from building deep trees.
constexpr int kMaxDepth = 3;
// Names and values quoted in error messages are cut at this many bytes.
constexpr std::size_t kMaxQuoted = 200;

[[noreturn]] void fail(std::string_view what, const std::string& why) {
  std::string msg;
  if (!what.empty()) {
    msg.append(what);
    msg += ": ";
  }
  msg += why;
  throw Error(Exit::model, msg);
}

/// `s` made safe for a one-line message (util::printable), long strings cut.
std::string printable(std::string_view s, std::size_t max = kMaxQuoted) { return util::printable(s, max); }

std::string squote(std::string_view s) { return "'" + printable(s) + "'"; }

std::string tensor_ctx(std::string_view name) { return "tensor " + squote(name) + ": "; }

std::string shape_str(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

std::string offsets_str(std::uint64_t b, std::uint64_t e) {
  return "[" + std::to_string(b) + ", " + std::to_string(e) + "]";
}

std::string json_excerpt(const json& v) {
  if (!v.is_array()) return printable(v.dump(), 60);
  std::string s = "[";  // as shape_str writes arrays
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    s += v[i].dump();
    if (s.size() > 60) return printable(s, 60);
  }
  return printable(s + "]", 60);
}

/// Bytes needed by `shape` of `dtype`, or nullopt on 64-bit overflow.
std::optional<std::uint64_t> byte_size(const std::vector<std::int64_t>& shape, DType dtype) {
  std::uint64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(d), &n)) return std::nullopt;
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(n, static_cast<std::uint64_t>(dtype_size(dtype)), &bytes)) return std::nullopt;
  return bytes;
}

// Codes the reference implementation defines that mvc does not handle.
bool is_reference_only_dtype(std::string_view code) {
  static constexpr std::string_view kCodes[] = {"U16",     "U32",     "U64",     "F8_E5M2", "F8_E4M3",
                                                "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
  return std::find(std::begin(kCodes), std::end(kCodes), code) != std::end(kCodes);
}

/// A non-negative JSON integer, or a message saying why `v` is not one.
std::optional<std::uint64_t> as_u64(const json& v, std::string& why) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    auto i = v.get<std::int64_t>();
    if (i == 0) return 0;  // "-0", as serde_json reads it
    why = "negative (" + std::to_string(i) + ")";
    return std::nullopt;
  }
  if (v.is_number_float() && v.get<double>() >= 18446744073709551616.0)
    why = "too large (" + json_excerpt(v) + ")";
  else if (v.is_number_float())
    why = "not an integer (" + json_excerpt(v) + ")";
  else
    why = std::string("not an integer (got ") + v.type_name() + ")";
  return std::nullopt;
}

/// Parses the JSON header, rejecting duplicate keys at every level and deep nesting.
json parse_json(std::string_view text, std::string_view what) {
  std::vector<std::set<std::string, std::less<>>> keys;  // one per open object
  std::vector<std::string> path;                         // key in effect at each depth
  auto cb = [&](int depth, json::parse_event_t ev, json& parsed) -> bool {
    switch (ev) {
      case json::parse_event_t::object_start:
      case json::parse_event_t::array_start:
        if (depth > kMaxDepth) fail(what, "header nests JSON deeper than a safetensors header can");
        if (ev == json::parse_event_t::object_start) keys.emplace_back();
        break;
      case json::parse_event_t::object_end:
        if (!keys.empty()) keys.pop_back();
        break;
      case json::parse_event_t::key: {
        const auto& k = parsed.get_ref<const std::string&>();
        auto d = static_cast<std::size_t>(depth);
        if (path.size() < d + 1) path.resize(d + 1);
        path[d] = k;
        if (keys.empty() || keys.back().insert(k).second) break;
        if (depth <= 1) {
          if (k == kMetadataKey) fail(what, "duplicate key '__metadata__' in the header");
          fail(what, tensor_ctx(k) + "duplicate tensor name in the header");
        }
        if (path[1] == kMetadataKey) fail(what, "__metadata__: duplicate key " + squote(k));
        fail(what, tensor_ctx(path[1]) + "duplicate key " + squote(k));
      }
      default:
        break;
    }
    return true;
  };
  try {
    return json::parse(text.begin(), text.end(), cb, /*allow_exceptions=*/true, /*ignore_comments=*/false);
  } catch (const json::exception& e) {
    std::string m = e.what();
    if (auto p = m.find("] "); m.rfind("[json.exception.", 0) == 0 && p != std::string::npos) m.erase(0, p + 2);
    fail(what, "header is not valid JSON: " + printable(m, 300));
  }
}

TensorInfo parse_entry(const std::string& name, const json& v, std::uint64_t buffer_size, std::string_view what) {
  const std::string ctx = tensor_ctx(name);
  if (!v.is_object()) fail(what, ctx + "entry is not a JSON object (got " + v.type_name() + ")");
  const json* dtype_v = nullptr;
  const json* shape_v = nullptr;
  const json* offsets_v = nullptr;
  for (const auto& [k, x] : v.items()) {
    if (k == "dtype")
      dtype_v = &x;
    else if (k == "shape")
      shape_v = &x;
    else if (k == "data_offsets")
      offsets_v = &x;
    else
      fail(what, ctx + "unknown field " + squote(k) + " (valid: data_offsets, dtype, shape)");
  }
  if (!dtype_v) fail(what, ctx + "missing 'dtype'");
  if (!shape_v) fail(what, ctx + "missing 'shape'");
  if (!offsets_v) fail(what, ctx + "missing 'data_offsets'");

  TensorInfo t;
  t.name = name;

  if (!dtype_v->is_string()) fail(what, ctx + "dtype is not a string (got " + dtype_v->type_name() + ")");
  const auto& code = dtype_v->get_ref<const std::string&>();
  auto dt = dtype_from_safetensors(code);
  if (!dt) {
    if (is_reference_only_dtype(code))
      fail(what,
           ctx + "dtype " + squote(code) + " is not supported by mvc (supported: " + safetensors_names_list() + ")");
    fail(what, ctx + "dtype " + squote(code) + " unknown (valid: " + safetensors_names_list() + ")");
  }
  t.dtype = *dt;

  if (!shape_v->is_array()) fail(what, ctx + "shape is not an array (got " + shape_v->type_name() + ")");
  t.shape.reserve(shape_v->size());
  for (std::size_t i = 0; i < shape_v->size(); ++i) {
    std::string why;
    auto d = as_u64((*shape_v)[i], why);
    if (!d) fail(what, ctx + "shape " + json_excerpt(*shape_v) + ": dimension " + std::to_string(i) + " is " + why);
    if (*d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      fail(what, ctx + "shape " + json_excerpt(*shape_v) + ": dimension " + std::to_string(i) + " is too large");
    t.shape.push_back(static_cast<std::int64_t>(*d));
  }
  auto nbytes = byte_size(t.shape, t.dtype);
  if (!nbytes)
    fail(what, ctx + "shape " + shape_str(t.shape) + " of " + code + " has a byte size that overflows 64 bits");

  if (!offsets_v->is_array() || offsets_v->size() != 2)
    fail(what, ctx + "data_offsets is not a pair [begin, end] (got " + json_excerpt(*offsets_v) + ")");
  for (int i = 0; i < 2; ++i) {
    std::string why;
    auto o = as_u64((*offsets_v)[static_cast<std::size_t>(i)], why);
    if (!o) fail(what, ctx + "data_offsets " + json_excerpt(*offsets_v) + ": " + (i ? "end" : "begin") + " is " + why);
    (i ? t.end : t.begin) = *o;
  }
  if (t.end < t.begin) fail(what, ctx + "data_offsets " + offsets_str(t.begin, t.end) + " end before they begin");
  if (t.end - t.begin != *nbytes)
    fail(what, ctx + "data_offsets " + offsets_str(t.begin, t.end) + " hold " + std::to_string(t.end - t.begin) +
                   " bytes but shape " + shape_str(t.shape) + " of " + code + " needs " + std::to_string(*nbytes));
  if (t.end > buffer_size)
    fail(what, ctx + "data_offsets " + offsets_str(t.begin, t.end) + " extend past the end of the data (" +
                   std::to_string(buffer_size) + " bytes)");
  return t;
}

/// Offsets, taken in order, must tile [0, buffer_size) exactly.
void check_layout(const std::vector<TensorInfo>& tensors, std::uint64_t buffer_size, std::string_view what) {
  std::vector<const TensorInfo*> order;
  order.reserve(tensors.size());
  for (const auto& t : tensors) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    if (a->begin != b->begin) return a->begin < b->begin;
    if (a->end != b->end) return a->end < b->end;
    return a->name < b->name;
  });
  std::uint64_t pos = 0;
  const TensorInfo* prev = nullptr;
  for (const TensorInfo* t : order) {
    if (t->begin < pos)
      fail(what, tensor_ctx(t->name) + "data_offsets " + offsets_str(t->begin, t->end) + " overlap tensor " +
                     squote(prev->name) + " " + offsets_str(prev->begin, prev->end));
    if (t->begin > pos) {
      if (!prev)
        fail(what, tensor_ctx(t->name) + "data_offsets " + offsets_str(t->begin, t->end) +
                       " leave a gap: the data starts with " + std::to_string(t->begin) + " unused bytes");
      fail(what, tensor_ctx(t->name) + "data_offsets " + offsets_str(t->begin, t->end) + " leave a gap of " +
                     std::to_string(t->begin - pos) + " bytes after tensor " + squote(prev->name) + " " +
                     offsets_str(prev->begin, prev->end));
    }
    pos = t->end;
    prev = t;
  }
  if (pos != buffer_size)
    fail(what, std::to_string(buffer_size - pos) + " trailing bytes after the last tensor (the tensors cover " +
                   std::to_string(pos) + " of " + std::to_string(buffer_size) + " data bytes)");
}

/// Checks the 8-byte size prefix against the limits; returns N.
std::uint64_t checked_header_size(const unsigned char* prefix, std::uint64_t file_size, std::string_view what) {
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | prefix[i];
  if (n > kMaxHeaderSize)
    fail(what, "header size " + std::to_string(n) + " exceeds the limit of " + std::to_string(kMaxHeaderSize) +
                   " bytes (not a safetensors file?)");
  if (8 + n > file_size)
    fail(what, "header size " + std::to_string(n) + " extends past the end of the file (" + std::to_string(file_size) +
                   " bytes)");
  return n;
}

[[noreturn]] void fail_too_short(std::uint64_t file_size, std::string_view what) {
  fail(what, "file is " + std::to_string(file_size) +
                 " bytes, too short for a safetensors file (at least 8 bytes of header size)");
}

void pread_exact(const util::Fd& fd, char* buf, std::size_t n, std::uint64_t off, const std::filesystem::path& p) {
  while (n > 0) {
    ssize_t r = ::pread(fd.get(), buf, n, static_cast<off_t>(off));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw Error(Exit::failure, util::errno_message(p, "read failed"));
    }
    if (r == 0) fail(p.string(), "file ended while reading the header (was it truncated?)");
    buf += r;
    n -= static_cast<std::size_t>(r);
    off += static_cast<std::uint64_t>(r);
  }
}

/// Builds the padded header for tensors already sorted by name.
std::string build_header(const std::vector<const TensorBytes*>& sorted,
                         const std::map<std::string, std::string>& metadata, std::string_view what) {
  json h = json::object();
  std::uint64_t offset = 0;
  for (std::size_t i = 0; i < sorted.size(); ++i) {
    const TensorBytes& t = *sorted[i];
    const std::string ctx = tensor_ctx(t.name);
    if (i > 0 && sorted[i - 1]->name == t.name) fail(what, ctx + "duplicate tensor name");
    if (t.name == kMetadataKey) fail(what, ctx + "the name is reserved for the metadata");
    for (std::int64_t d : t.shape)
      if (d < 0) fail(what, ctx + "shape " + shape_str(t.shape) + " has a negative dimension");
    auto nbytes = byte_size(t.shape, t.dtype);
    if (!nbytes) fail(what, ctx + "shape " + shape_str(t.shape) + " has a byte size that overflows 64 bits");
    if (*nbytes != t.data.size())
      fail(what, ctx + "data is " + std::to_string(t.data.size()) + " bytes but shape " + shape_str(t.shape) + " of " +
                     std::string(safetensors_name(t.dtype)) + " needs " + std::to_string(*nbytes));
    std::uint64_t end = 0;
    if (__builtin_add_overflow(offset, *nbytes, &end)) fail(what, "total data size overflows 64 bits");
    json e = json::object();
    e["dtype"] = std::string(safetensors_name(t.dtype));
    json shape = json::array();
    for (std::int64_t d : t.shape) shape.push_back(d);
    e["shape"] = std::move(shape);
    e["data_offsets"] = json::array({offset, end});
    h[t.name] = std::move(e);
    offset = end;
  }
  if (!metadata.empty()) {
    json m = json::object();
    for (const auto& [k, v] : metadata) m[k] = v;
    h[std::string(kMetadataKey)] = std::move(m);
  }
  std::string text;
  try {
    // ensure_ascii: escapes as Python's json.dumps does by default (\u00e9, DEL as \u007f).
    text = h.dump(-1, ' ', /*ensure_ascii=*/true);
  } catch (const json::type_error&) {
    auto bad = [](const std::string& s) {
      try {
        (void)json(s).dump();
        return false;
      } catch (const json::type_error&) {
        return true;
      }
    };
    for (const TensorBytes* t : sorted)
      if (bad(t->name)) fail(what, "tensor name " + squote(t->name) + " is not valid UTF-8");
    for (const auto& [k, v] : metadata)
      if (bad(k) || bad(v)) fail(what, "__metadata__: entry " + squote(k) + " is not valid UTF-8");
    fail(what, "header is not valid UTF-8");
  }
  text.append((8 - text.size() % 8) % 8, ' ');
  std::string out(8, '\0');
  std::uint64_t n = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<std::size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xFF);
  out += text;
  return out;
}

std::vector<const TensorBytes*> sorted_by_name(const std::vector<TensorBytes>& tensors) {
  std::vector<const TensorBytes*> v;
  v.reserve(tensors.size());
  for (const auto& t : tensors) v.push_back(&t);
  std::stable_sort(v.begin(), v.end(), [](const TensorBytes* a, const TensorBytes* b) { return a->name < b->name; });
  return v;
}

}  // namespace

std::uint64_t TensorInfo::numel() const {
  std::uint64_t n = 1;
  for (std::int64_t d : shape) n *= static_cast<std::uint64_t>(d);
  return n;
}

const TensorInfo* SafetensorsHeader::find(std::string_view name) const {
  auto it = std::lower_bound(tensors.begin(), tensors.end(), name,
                             [](const TensorInfo& t, std::string_view n) { return t.name < n; });
  if (it != tensors.end() && it->name == name) return &*it;
  return nullptr;
}

SafetensorsHeader parse_safetensors_header(std::string_view text, std::uint64_t file_size, const std::string& what) {
  SafetensorsHeader h;
  h.header_size = text.size();
  h.data_offset = 8 + h.header_size;
  h.file_size = file_size;
  if (h.header_size > kMaxHeaderSize)
    fail(what, "header size " + std::to_string(h.header_size) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderSize) + " bytes");
  if (h.data_offset > file_size)
    fail(what, "header size " + std::to_string(h.header_size) + " extends past the end of the file (" +
                   std::to_string(file_size) + " bytes)");
  const std::uint64_t buffer_size = file_size - h.data_offset;
  // As the reference: the header starts with '{' (no BOM, no leading space); trailing
  // whitespace (the writers' space padding) is allowed by the JSON parser.
  if (text.empty() || text.front() != '{')
    fail(what, "header is not a JSON object (it does not start with '{'; not a safetensors file?)");
  // nlohmann's lexer takes a NUL byte for the end of the input ("{}\0garbage" would pass);
  // JSON has no place for a raw NUL (not in strings, not as whitespace).
  if (auto nul = text.find('\0'); nul != std::string_view::npos)
    fail(what, "header is not valid JSON: NUL byte at offset " + std::to_string(nul));
  json j = parse_json(text, what);
  if (!j.is_object()) fail(what, "header is not a JSON object");

  h.tensors.reserve(j.size());
  for (const auto& [name, v] : j.items()) {
    if (name == kMetadataKey) {
      if (v.is_null()) continue;  // the reference reads `null` as no metadata
      if (!v.is_object())
        fail(what, std::string("__metadata__ is not an object of strings (got ") + v.type_name() + ")");
      for (const auto& [k, s] : v.items()) {
        if (!s.is_string())
          fail(what, "__metadata__: value of " + squote(k) + " is not a string (got " + s.type_name() + " " +
                         json_excerpt(s) + ")");
        h.metadata.emplace(k, s.get<std::string>());
      }
      continue;
    }
    h.tensors.push_back(parse_entry(name, v, buffer_size, what));
  }
  // nlohmann's object is a std::map: tensors come out sorted by name (bytewise).
  check_layout(h.tensors, buffer_size, what);
  return h;
}

SafetensorsHeader parse_safetensors_bytes(std::string_view bytes, const std::string& what) {
  if (bytes.size() < 8) fail_too_short(bytes.size(), what);
  std::uint64_t n = checked_header_size(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), what);
  return parse_safetensors_header(bytes.substr(8, n), bytes.size(), what);
}

SafetensorsHeader read_safetensors_header(const std::filesystem::path& path) {
  const std::string what = path.string();
  util::Fd fd = util::open_read(path);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) throw Error(Exit::failure, util::errno_message(path, "stat failed"));
  if (!S_ISREG(st.st_mode)) throw Error(Exit::failure, what + ": not a regular file");
  const auto file_size = static_cast<std::uint64_t>(st.st_size);
  if (file_size < 8) fail_too_short(file_size, what);
  unsigned char prefix[8];
  pread_exact(fd, reinterpret_cast<char*>(prefix), 8, 0, path);
  // Bounded before anything is allocated: n <= kMaxHeaderSize and 8 + n <= file size.
  std::uint64_t n = checked_header_size(prefix, file_size, what);
  std::string text(static_cast<std::size_t>(n), '\0');
  pread_exact(fd, text.data(), text.size(), 8, path);
  return parse_safetensors_header(text, file_size, what);
}

SafetensorsHeader read_safetensors_header(const ReadAt& read_at, std::uint64_t file_size, const std::string& what) {
  if (file_size < 8) fail_too_short(file_size, what);
  unsigned char prefix[8];
  read_at(0, reinterpret_cast<char*>(prefix), 8);
  std::uint64_t n = checked_header_size(prefix, file_size, what);
  std::string text(static_cast<std::size_t>(n), '\0');
  read_at(8, text.data(), text.size());
  return parse_safetensors_header(text, file_size, what);
}

std::string safetensors_header_bytes(const std::vector<TensorBytes>& tensors,
                                     const std::map<std::string, std::string>& metadata) {
  return build_header(sorted_by_name(tensors), metadata, {});
}

void write_safetensors(const std::filesystem::path& path, std::vector<TensorBytes> tensors,
                       const std::map<std::string, std::string>& metadata) {
  const std::string what = path.string();
  auto sorted = sorted_by_name(tensors);
  std::string header = build_header(sorted, metadata, what);
  std::filesystem::path dir = path.parent_path();
  util::TempFile tmp(dir.empty() ? std::filesystem::path(".") : dir, path.filename().string());
  util::write_all(tmp.fd(), header.data(), header.size(), tmp.path());
  for (const TensorBytes* t : sorted) util::write_all(tmp.fd(), t->data.data(), t->data.size(), tmp.path());
  tmp.commit_to(path);
}

}  // namespace mvc::weights
