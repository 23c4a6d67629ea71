#include "store/manifest.h"

#include <charconv>

#include "mvc/error.h"
#include "util/sha256.h"

namespace mvc::store {

namespace {

constexpr std::string_view kMagic = "mvc-manifest ";

bool parse_u64(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 20) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::uint64_t Manifest::offset(std::size_t i) const {
  std::uint64_t off = 0;
  for (std::size_t k = 0; k < i && k < segments.size(); ++k) off += segments[k].size;
  return off;
}

std::string render_manifest(const Manifest& m) {
  std::string s = std::string(kMagic) + std::to_string(kManifestFormat) + "\n";
  s += "file " + m.file_sha256 + " " + std::to_string(m.size) + "\n";
  for (const Segment& g : m.segments) s += "seg " + g.sha256 + " " + std::to_string(g.size) + "\n";
  s += "end " + util::sha256_hex(s) + "\n";
  return s;
}

Manifest parse_manifest(std::string_view text, const std::string& expected_sha, const std::string& what) {
  auto bad = [&](const std::string& why) { return Error(Exit::integrity, "manifest " + what + " is corrupt: " + why); };
  if (text.rfind(kMagic, 0) != 0) throw bad("it does not start with 'mvc-manifest '");
  std::size_t nl = text.find('\n');
  if (nl == std::string_view::npos) throw bad("no line end");
  std::uint64_t version = 0;
  if (!parse_u64(text.substr(kMagic.size(), nl - kMagic.size()), version)) throw bad("bad format line");
  if (version > static_cast<std::uint64_t>(kManifestFormat))
    throw Error(Exit::not_repo, "manifest " + what + ": manifest format " + std::to_string(version) +
                                    " needs a newer mvc (this one reads format " + std::to_string(kManifestFormat) +
                                    ")");
  Manifest m;
  bool have_file = false, have_end = false;
  std::uint64_t sum = 0;
  std::size_t pos = nl + 1, lineno = 1;
  while (pos < text.size()) {
    ++lineno;
    std::size_t e = text.find('\n', pos);
    if (e == std::string_view::npos) throw bad("line " + std::to_string(lineno) + " has no line end");
    std::string_view line = text.substr(pos, e - pos);
    if (have_end) throw bad("text after the 'end' line");
    std::size_t sp1 = line.find(' ');
    std::string_view tag = line.substr(0, sp1);
    std::string_view rest = sp1 == std::string_view::npos ? std::string_view() : line.substr(sp1 + 1);
    if (tag == "end") {
      if (rest != util::sha256_hex(text.substr(0, pos))) throw bad("its 'end' checksum does not match its text");
      have_end = true;
    } else if (tag == "file" || tag == "seg") {
      std::size_t sp2 = rest.find(' ');
      if (sp2 == std::string_view::npos) throw bad("line " + std::to_string(lineno) + " is not '<tag> <sha> <size>'");
      std::string_view sha = rest.substr(0, sp2);
      std::uint64_t size = 0;
      if (!util::is_sha256_hex(sha) || !parse_u64(rest.substr(sp2 + 1), size))
        throw bad("line " + std::to_string(lineno) + " is not '<tag> <sha> <size>'");
      if (tag == "file") {
        if (have_file || !m.segments.empty()) throw bad("a misplaced 'file' line");
        m.file_sha256 = std::string(sha);
        m.size = size;
        have_file = true;
      } else {
        if (!have_file) throw bad("a 'seg' line before the 'file' line");
        m.segments.push_back({std::string(sha), size});
        sum += size;
      }
    } else {
      throw bad("unknown line " + std::to_string(lineno));
    }
    pos = e + 1;
  }
  if (!have_file || !have_end) throw bad("it is incomplete");
  if (sum != m.size)
    throw bad("its segments add up to " + std::to_string(sum) + " bytes, not " + std::to_string(m.size));
  if (!expected_sha.empty() && m.file_sha256 != expected_sha) throw bad("it describes file " + m.file_sha256);
  return m;
}

std::string manifest_key(const std::string& sha) {
  if (!util::is_sha256_hex(sha)) throw Error(Exit::failure, "invalid object name '" + sha + "'");
  return "manifests/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2);
}

}  // namespace mvc::store
