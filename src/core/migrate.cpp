#include "core/migrate.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>
#include <set>

#include "arch/arch.h"
#include "core/model_check.h"
#include "core/model_version.h"
#include "mvc/error.h"
#include "util/fs.h"
#include "util/md5.h"
#include "util/sha256.h"

namespace mvc::core {

namespace {

std::string trim(const std::string& s) {
  auto a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

bool is_hex(const std::string& s, std::size_t n) {
  return s.size() == n && std::all_of(s.begin(), s.end(), [](char c) {
           return std::isdigit(static_cast<unsigned char>(c)) || (c >= 'a' && c <= 'f');
         });
}

std::string base_name(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? rel : rel.substr(s + 1);
}

std::string parent_dir(const std::string& rel) {
  auto s = rel.rfind('/');
  return s == std::string::npos ? "" : rel.substr(0, s);
}

// ---- .dvc files: the YAML subset DVC writes ------------------------------------------------

struct YamlError {
  const std::string& name;
  Error operator()(int line, const std::string& why) const {
    return Error(Exit::model, name + ":" + std::to_string(line) + ": " + why);
  }
};

void append_utf8(std::string& out, unsigned long cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// A scalar value (the text after "key: "): plain (up to a " #" comment), '...' ('' is a
/// quote) or "..." (backslash escapes); what follows a quoted scalar may only be a comment.
std::string yaml_scalar(const std::string& v, int line, const YamlError& err) {
  if (v.empty()) return "";
  if (v[0] == '[' || v[0] == '{') throw err(line, "flow-style YAML ([...], {...}) is not supported here");
  if (v[0] == '&' || v[0] == '*' || v[0] == '!' || v[0] == '|' || v[0] == '>')
    throw err(line, "YAML anchors, aliases, tags and block scalars are not supported here");
  std::string out;
  std::size_t i = 1;
  if (v[0] == '\'') {
    for (;; ++i) {
      if (i >= v.size()) throw err(line, "unterminated single-quoted string");
      if (v[i] == '\'') {
        if (i + 1 < v.size() && v[i + 1] == '\'') {
          out += '\'';
          ++i;
          continue;
        }
        break;
      }
      out += v[i];
    }
  } else if (v[0] == '"') {
    for (;; ++i) {
      if (i >= v.size()) throw err(line, "unterminated double-quoted string");
      char c = v[i];
      if (c == '"') break;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (++i >= v.size()) throw err(line, "unterminated double-quoted string");
      char e = v[i];
      std::size_t hex_digits = e == 'x' ? 2 : e == 'u' ? 4 : e == 'U' ? 8 : 0;
      if (hex_digits) {
        std::string h = v.substr(i + 1, hex_digits);
        if (h.size() != hex_digits ||
            !std::all_of(h.begin(), h.end(), [](char d) { return std::isxdigit(static_cast<unsigned char>(d)); }))
          throw err(line, "invalid \\" + std::string(1, e) + " escape");
        append_utf8(out, std::stoul(h, nullptr, 16));
        i += hex_digits;
        continue;
      }
      switch (e) {
        case '\\':
          out += '\\';
          break;
        case '"':
          out += '"';
          break;
        case '/':
          out += '/';
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '0':
          out += '\0';
          break;
        case ' ':
          out += ' ';
          break;
        default:
          throw err(line, "unknown escape \\" + std::string(1, e));
      }
    }
  } else {
    std::size_t hash = v.find(" #");
    std::string plain = trim(hash == std::string::npos ? v : v.substr(0, hash));
    if (plain == "~" || plain == "null") return "";
    return plain;
  }
  std::string rest = trim(v.substr(i + 1));
  if (!rest.empty() && rest[0] != '#') throw err(line, "unexpected text after a quoted string: " + rest);
  return out;
}

/// Splits "key: value" / "key:"; nullopt when the line is not a mapping entry.
std::optional<std::pair<std::string, std::string>> yaml_key(const std::string& body) {
  for (std::size_t i = 0; i < body.size(); ++i) {
    if (body[i] == ':' && (i + 1 == body.size() || body[i + 1] == ' ')) {
      std::string key = trim(body.substr(0, i));
      if (key.empty()) return std::nullopt;
      return std::make_pair(key, trim(body.substr(i + 1)));
    }
  }
  return std::nullopt;
}

// DVC's md5-dos2unix: TEXT_CHARS and the 30% rule of dvc-data's istextfile.istextblock,
// applied to the first 512 bytes of each 1 MiB chunk (hashfile/hash.py, Dos2UnixHashStreamFile).
bool dvc_text_block(const char* p, std::size_t n) {
  n = std::min<std::size_t>(n, 512);
  if (n == 0) return true;
  std::size_t nontext = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(p[i]);
    if (c == 0) return false;
    bool text = (c >= 32 && c <= 126) || c == '\n' || c == '\r' || c == '\t' || c == '\f' || c == '\b';
    if (!text) ++nontext;
  }
  return static_cast<double>(nontext) / static_cast<double>(n) <= 0.30;
}

// ---- gitignore-style patterns --------------------------------------------------------------

bool wild(const char* p, const char* s);

/// A bracket expression at `p` (just after '['): matches `c`? Advances `p` past ']'.
bool bracket(const char*& p, char c, bool& ok) {
  bool negate = *p == '!' || *p == '^';
  if (negate) ++p;
  bool matched = false;
  bool first = true;
  while (*p && (first || *p != ']')) {
    first = false;
    char lo = *p;
    if (lo == '\\' && p[1]) lo = *++p;
    char hi = lo;
    if (p[1] == '-' && p[2] && p[2] != ']') {
      hi = p[2];
      if (hi == '\\' && p[3]) hi = *++p;
      p += 2;
    }
    if (c >= lo && c <= hi) matched = true;
    ++p;
  }
  ok = *p == ']';
  if (ok) ++p;
  return matched != negate;
}

bool wild(const char* p, const char* s) {
  for (; *p; ++p) {
    if (*p == '*') {
      if (p[1] == '*') {
        const char* rest = p + 2;
        if (*rest == '/') {  // "**/": zero or more directories
          for (const char* t = s;;) {
            if (wild(rest + 1, t)) return true;
            const char* slash = std::strchr(t, '/');
            if (!slash) return false;
            t = slash + 1;
          }
        }
        if (*rest == 0) return true;  // "**" at the end: everything
        for (const char* t = s;; ++t) {
          if (wild(rest, t)) return true;
          if (!*t) return false;
        }
      }
      for (const char* t = s;; ++t) {  // '*' stays within a component
        if (wild(p + 1, t)) return true;
        if (!*t || *t == '/') return false;
      }
    }
    if (!*s) return false;
    if (*p == '?') {
      if (*s == '/') return false;
      ++s;
      continue;
    }
    if (*p == '[') {
      const char* q = p + 1;
      bool ok = false;
      bool m = bracket(q, *s, ok);
      if (ok) {
        if (!m || *s == '/') return false;
        p = q - 1;
        ++s;
        continue;
      }
      // no closing ']': a literal '['
    }
    if (*p == '\\' && p[1]) ++p;
    if (*p != *s) return false;
    ++s;
  }
  return *s == 0;
}

// ---- the migration ---------------------------------------------------------------------------

struct Candidate {
  std::string tool;  // "DVC" / "Git LFS"
  std::string tracking;
  std::string weights_rel;
  DvcOut out;
  std::size_t outs_in_file = 1;
  LfsPointer lfs;
};

/// `p` as messages show it: repo-relative inside the work tree, else absolute.
std::string shown_path(const Workspace& ws, const fs::path& p) {
  std::string root = ws.root().string() + "/";
  std::string s = p.lexically_normal().string();
  return s.rfind(root, 0) == 0 ? s.substr(root.size()) : s;
}

/// The directory holding `.dvc/` at or above `dir` (repo-relative), or nullopt.
std::optional<fs::path> dvc_root(const Workspace& ws, const std::string& dir) {
  std::string d = dir;
  for (;;) {
    fs::path p = ws.root() / d;
    std::error_code ec;
    if (fs::is_directory(p / ".dvc", ec)) return p;
    if (d.empty()) return std::nullopt;
    d = parent_dir(d);
  }
}

/// `[cache] dir` of a DVC config file (INI, configobj), relative to its directory; "" if unset.
std::string dvc_cache_setting(const fs::path& config) {
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) return "";
  std::string text = util::read_file(config);
  std::string section, found;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = trim(text.substr(pos, end - pos));
    pos = end + 1;
    if (!line.empty() && line.back() == '\r') line = trim(line.substr(0, line.size() - 1));
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      section = trim(line.substr(1, line.find(']') - 1));
      if (section.size() >= 2 && (section[0] == '\'' || section[0] == '"'))
        section = section.substr(1, section.size() - 2);
      continue;
    }
    auto eq = line.find('=');
    if (section == "cache" && eq != std::string::npos && trim(line.substr(0, eq)) == "dir")
      found = trim(line.substr(eq + 1));
  }
  return found;
}

/// Where DVC keeps the object of `out`: the DVC 3 layout (files/md5/ab/cdef...) and the DVC 2
/// one (ab/cdef...), the entry's own first (https://dvc.org/doc/user-guide/project-structure/internal-files).
std::vector<fs::path> dvc_cache_paths(const fs::path& root, const DvcOut& out) {
  fs::path dvc = root / ".dvc";
  fs::path cache = dvc / "cache";
  for (const char* cfg : {"config.local", "config"})
    if (std::string d = dvc_cache_setting(dvc / cfg); !d.empty()) {
      cache = fs::path(d).is_absolute() ? fs::path(d) : dvc / d;
      break;
    }
  fs::path v3 = cache / "files" / "md5" / out.md5.substr(0, 2) / out.md5.substr(2);
  fs::path v2 = cache / out.md5.substr(0, 2) / out.md5.substr(2);
  if (out.hash == "md5") return {v3, v2};
  return {v2, v3};
}

/// The text of a file without the lines `drop` says to drop (line ends kept).
std::string without_lines(const std::string& text, const std::function<bool(const std::string&)>& drop,
                          std::vector<std::string>& dropped) {
  std::string out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::size_t next = end == std::string::npos ? text.size() : end + 1;
    std::string line = text.substr(pos, (end == std::string::npos ? text.size() : end) - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (drop(line))
      dropped.push_back(line);
    else
      out += text.substr(pos, next - pos);
    pos = next;
  }
  return out;
}

/// Puts the verified bytes at the work-tree path, the file that was there (a link into a cache,
/// a pointer) moved aside; put back on destruction unless keep() was called.
class Placement {
 public:
  Placement() = default;
  Placement(const Placement&) = delete;
  Placement& operator=(const Placement&) = delete;
  void place(util::TempFile& tmp, const fs::path& target) {
    target_ = target;
    if (util::lexists(target)) {
      aside_ = target;
      // A temp file's name (repository-format.md, "Temp files"): git ignores it, and no other
      // mvc process removes it while this one lives.
      aside_ += std::string(util::kTempMarker) + util::random_hex(12) + "." + std::to_string(::getpid()) + "@" +
                util::host_name();
      fs::rename(target, aside_);
    }
    placed_ = true;
    tmp.commit_to(target, false);
  }
  void keep() {
    std::error_code ec;
    if (!aside_.empty()) fs::remove(aside_, ec);
    placed_ = false;
  }
  ~Placement() {
    if (!placed_) return;
    std::error_code ec;
    fs::remove(target_, ec);
    if (!aside_.empty()) fs::rename(aside_, target_, ec);
  }

 private:
  fs::path target_, aside_;
  bool placed_ = false;
};

}  // namespace

DvcFile parse_dvc_file(const std::string& text, const std::string& name) {
  YamlError err{name};
  DvcFile f;
  bool seen_outs = false, in_outs = false;
  int seq_indent = -1, key_indent = -1;
  std::set<std::string> item_keys;
  DvcOut* cur = nullptr;
  auto entry = [&](const std::string& body, int ln) {
    auto kv = yaml_key(body);
    if (!kv) throw err(ln, "expected 'key: value' in an outs entry, got '" + body + "'");
    const auto& [key, value] = *kv;
    if (!item_keys.insert(key).second) throw err(ln, "duplicate key '" + key + "' in an outs entry");
    if (key != "md5" && key != "size" && key != "hash" && key != "path" && key != "cache") return;
    if (value.empty()) throw err(ln, "'" + key + "' has no value");
    std::string v = yaml_scalar(value, ln, err);
    if (key == "md5") {
      std::string digest = v.size() > 4 && v.compare(v.size() - 4, 4, ".dir") == 0 ? v.substr(0, v.size() - 4) : v;
      if (!is_hex(digest, 32)) throw err(ln, "md5 '" + v + "' is not 32 lowercase hexadecimal digits");
      cur->md5 = v;
    } else if (key == "size") {
      if (v.empty() || v.size() > 19 || !std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; }))
        throw err(ln, "size '" + v + "' is not a number of bytes");
      cur->size = std::stoull(v);
    } else if (key == "hash") {
      cur->hash = v;
    } else if (key == "path") {
      if (v.empty()) throw err(ln, "empty path");
      cur->path = v;
    } else {
      if (v != "true" && v != "false") throw err(ln, "cache '" + v + "' is not true or false");
      cur->cache = v == "true";
    }
  };
  std::size_t pos = 0;
  int ln = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string raw = text.substr(pos, end - pos);
    pos = end + 1;
    ++ln;
    if (!raw.empty() && raw.back() == '\r') raw.pop_back();
    std::size_t ind = raw.find_first_not_of(' ');
    if (ind == std::string::npos) continue;
    if (raw[ind] == '\t') throw err(ln, "a tab in the indentation (YAML indents with spaces)");
    std::string body = trim(raw.substr(ind));
    if (body.empty() || body[0] == '#') continue;
    if (ind == 0 && (body == "---" || body == "...")) continue;
    bool item = body[0] == '-' && (body.size() == 1 || body[1] == ' ');
    if (ind == 0 && !item) {
      in_outs = false;
      cur = nullptr;
      auto kv = yaml_key(body);
      if (!kv) throw err(ln, "expected 'key: value' at the top level, got '" + body + "'");
      if (kv->first == "outs") {
        if (seen_outs) throw err(ln, "duplicate key 'outs'");
        if (!kv->second.empty() && kv->second != "[]") {
          if (kv->second[0] == '[') throw err(ln, "flow-style YAML ([...], {...}) is not supported here");
          throw err(ln, "outs must be a list");
        }
        seen_outs = in_outs = true;
        seq_indent = -1;
      } else if (kv->first == "wdir") {
        f.wdir = yaml_scalar(kv->second, ln, err);
      }
      continue;  // other keys (deps, md5, frozen, meta, desc...) and their nested lines are skipped
    }
    if (!in_outs) continue;
    if (item && (seq_indent < 0 || static_cast<int>(ind) == seq_indent)) {
      seq_indent = static_cast<int>(ind);
      f.outs.emplace_back();
      cur = &f.outs.back();
      cur->line = ln;
      item_keys.clear();
      std::size_t off = body.find_first_not_of(' ', 1);
      key_indent = off == std::string::npos ? -1 : static_cast<int>(ind + off);
      if (off != std::string::npos) entry(body.substr(off), ln);
      continue;
    }
    if (!cur) throw err(ln, "expected a list item ('- ') under outs");
    if (key_indent < 0) key_indent = static_cast<int>(ind);
    if (static_cast<int>(ind) == key_indent)
      entry(body, ln);
    else if (static_cast<int>(ind) < key_indent)
      throw err(ln, "unexpected indentation");
    // deeper: a nested value (meta, files...), skipped
  }
  if (!seen_outs) throw err(1, "no 'outs' list (not a .dvc file DVC wrote?)");
  for (const DvcOut& o : f.outs)
    if (o.path.empty()) throw err(o.line, "an outs entry without a path");
  return f;
}

std::string dvc_md5(const fs::path& file, bool legacy, const std::function<void(std::uint64_t)>& progress) {
  util::Fd fd = util::open_read(file);
  util::Md5 md5;
  constexpr std::size_t kChunk = 1 << 20;  // dvc-data's fobj_md5 chunk size
  std::string buf(kChunk, '\0');
  std::string converted;
  std::uint64_t total = 0;
  for (;;) {
    std::size_t n = 0;
    while (n < kChunk) {
      std::size_t got = util::read_some(fd, buf.data() + n, kChunk - n, file);
      if (got == 0) break;
      n += got;
    }
    if (n == 0) break;
    if (legacy && dvc_text_block(buf.data(), n)) {
      converted.clear();
      for (std::size_t i = 0; i < n; ++i) {
        if (buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n') continue;
        converted += buf[i];
      }
      md5.update(converted);
    } else {
      md5.update(buf.data(), n);
    }
    total += n;
    if (progress) progress(total);
    if (n < kChunk) break;
  }
  return md5.hex_digest();
}

std::optional<LfsPointer> parse_lfs_pointer(const std::string& text) {
  if (text.size() > 1024 || text.empty() || text.back() != '\n') return std::nullopt;
  LfsPointer p;
  bool have_oid = false, have_size = false;
  std::size_t pos = 0;
  int n = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    std::string line = text.substr(pos, end - pos);
    pos = end + 1;
    auto sp = line.find(' ');
    if (sp == std::string::npos) return std::nullopt;
    std::string key = line.substr(0, sp), value = line.substr(sp + 1);
    if (n++ == 0) {
      if (key != "version" ||
          (value != "https://git-lfs.github.com/spec/v1" && value != "https://hawser.github.com/spec/v1"))
        return std::nullopt;
    } else if (key == "oid" && !have_oid) {
      if (value.rfind("sha256:", 0) != 0 || !is_hex(value.substr(7), 64)) return std::nullopt;
      p.oid = value.substr(7);
      have_oid = true;
    } else if (key == "size" && !have_size) {
      if (value.empty() || value.size() > 19 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return std::nullopt;
      p.size = std::stoull(value);
      have_size = true;
    } else {
      return std::nullopt;  // extensions (ext-N-name) and unknown keys: not a pointer mvc reads
    }
  }
  if (!have_oid || !have_size) return std::nullopt;
  return p;
}

bool git_pattern_matches(const std::string& pattern_in, const std::string& path) {
  std::string pattern = pattern_in;
  if (pattern.empty() || pattern.back() == '/') return false;  // a directory pattern names no file
  if (pattern.find('/') == std::string::npos) return wild(pattern.c_str(), base_name(path).c_str());
  if (pattern[0] == '/') pattern.erase(0, 1);
  return wild(pattern.c_str(), path.c_str());
}

MigrateResult migrate(Workspace& ws, const MigrateRequest& req) {
  git::Repo& g = ws.git();
  std::string dir = normalize_dir(g.rel(req.path));
  ModelVersion v = resolve_version(ws, "", dir);  // Exit::usage when there is no arch.toml
  const std::string shown_dir = dir.empty() ? "." : dir;
  util::Progress& progress = req.progress ? *req.progress : util::no_progress();

  // 1. What tracks a weights file in the directory: .dvc files beside it, LFS pointers in the index.
  std::vector<Candidate> cands;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ws.root() / dir, ec)) {
    std::string fname = e.path().filename().string();
    if (fname.size() <= 4 || fname.compare(fname.size() - 4, 4, ".dvc") != 0 || !e.is_regular_file()) continue;
    std::string rel = join(dir, fname);
    DvcFile f = parse_dvc_file(util::read_file(e.path()), rel);
    std::string base = f.wdir.empty() ? dir : join(dir, f.wdir);
    for (const DvcOut& o : f.outs) {
      std::string target = fs::path(join(base, o.path)).lexically_normal().generic_string();
      if (target.empty() || target.rfind("..", 0) == 0 || parent_dir(target) != dir) continue;
      Candidate c;
      c.tool = "DVC";
      c.tracking = rel;
      c.weights_rel = target;
      c.out = o;
      c.outs_in_file = f.outs.size();
      cands.push_back(std::move(c));
    }
  }
  const std::string prefix = dir.empty() ? "" : dir + "/";
  std::vector<std::string> index_paths = g.index_paths();
  for (const std::string& p : index_paths) {
    if (p.rfind(prefix, 0) != 0 || p.find('/', prefix.size()) != std::string::npos) continue;
    auto blob = g.read_index_blob(p);
    if (!blob) continue;
    if (auto lp = parse_lfs_pointer(*blob)) {
      Candidate c;
      c.tool = "Git LFS";
      c.tracking = p;
      c.weights_rel = p;
      c.lfs = *lp;
      cands.push_back(std::move(c));
    }
  }
  auto list = [](const std::vector<Candidate>& cs) {
    std::string s;
    for (const auto& c : cs) s += (s.empty() ? "" : ", ") + c.weights_rel + " (" + c.tool + ": " + c.tracking + ")";
    return s;
  };
  if (!req.weights.empty()) {
    std::string want = g.rel(req.weights);
    std::vector<Candidate> chosen;
    for (auto& c : cands)
      if (c.weights_rel == want) chosen.push_back(c);
    if (chosen.empty())
      throw Error(Exit::usage, want + ": no .dvc file or Git LFS pointer in " + shown_dir + " tracks it" +
                                   (cands.empty() ? "" : " (tracked: " + list(cands) + ")"));
    cands = chosen;
  }
  if (cands.empty()) {
    std::string why = shown_dir + ": no .dvc file or Git LFS pointer tracks a weights file in it";
    if (v.pointer) why += " (its weights are already an mvc version: " + v.pointer->rel + ")";
    throw Error(Exit::usage, why);
  }
  if (cands.size() > 1)
    throw Error(Exit::usage,
                shown_dir + ": several tracked files (" + list(cands) + "); choose one with --weights FILE");
  const Candidate c = cands.front();

  MigratePlan plan;
  plan.dir = dir;
  plan.tool = c.tool;
  plan.tracking = c.tracking;
  plan.weights_rel = c.weights_rel;
  plan.message = req.message.empty() ? "Migrate " + shown_dir + " from " + c.tool + " to mvc" : req.message;
  const std::string weights_name = base_name(c.weights_rel);
  if (c.tool == "DVC") {
    if (c.outs_in_file > 1)
      throw Error(Exit::usage, c.tracking + ": tracks " + std::to_string(c.outs_in_file) +
                                   " outputs; mvc migrate takes a .dvc file that tracks one weights file");
    if (c.out.md5.empty())
      throw Error(Exit::model,
                  c.tracking + ":" + std::to_string(c.out.line) + ": the entry for " + c.out.path + " has no md5");
    if (c.out.md5.size() != 32)
      throw Error(Exit::usage, c.tracking + ": " + c.out.path + " is a directory (md5 " + c.out.md5 +
                                   "); mvc migrate takes one weights file");
    plan.digest = "md5:" + c.out.md5;
    plan.size = c.out.size.value_or(0);
  } else {
    plan.digest = "sha256:" + c.lfs.oid;
    plan.size = c.lfs.size;
  }

  // 2. Local changes in the way: nothing but the model's own files may be staged, and every
  // file migrate rewrites or removes must be as the index has it.
  if (g.state() != git::RepoState::none)
    throw Error(Exit::failure, "a merge, rebase, cherry-pick, revert or bisect is in progress; finish it first");
  {
    std::set<std::string> own = {join(dir, kArchFile), join(dir, kHparamsFile), join(dir, kMetricsFile)};
    std::vector<std::string> other;
    for (const std::string& p : g.staged_paths())
      if (!own.count(p)) other.push_back(p);
    if (!other.empty()) {
      std::string names;
      for (std::size_t i = 0; i < other.size() && i < 5; ++i) names += (i ? ", " : "") + other[i];
      if (other.size() > 5) names += ", ...";
      throw Error(Exit::failure,
                  "staged changes (" + names + ") would go into the migration commit; commit or unstage them first");
    }
  }
  auto require_clean = [&](const std::string& rel) -> std::string {
    auto blob = g.read_index_blob(rel);
    if (!blob)
      throw Error(Exit::failure,
                  rel + ": not committed to git; commit it first (mvc migrate moves tracking git holds)");
    if (!g.worktree_matches(rel, blob))
      throw Error(Exit::failure, rel + ": local changes (it differs from the index); commit or discard them first");
    return *blob;
  };
  if (c.tool == "DVC") {
    require_clean(c.tracking);
    plan.remove.push_back(c.tracking);
    std::string ign = join(dir, ".gitignore");
    if (g.read_index_blob(ign) || fs::exists(ws.root() / ign)) {
      std::string text = require_clean(ign);
      MigratePlan::Edit edit;
      edit.rel = ign;
      edit.text = without_lines(
          text, [&](const std::string& l) { return trim(l) == "/" + weights_name; }, edit.lines);
      if (!edit.lines.empty()) plan.edits.push_back(std::move(edit));
    }
  } else {
    // Every .gitattributes from the root down to the directory: its lines that give the
    // weights file filter=lfs go, unless they also apply to other tracked files.
    std::vector<std::string> levels{""};
    for (std::size_t s = dir.find('/'); !dir.empty(); s = dir.find('/', s + 1)) {
      levels.push_back(dir.substr(0, s));
      if (s == std::string::npos) break;
    }
    for (const std::string& level : levels) {
      std::string rel = join(level, ".gitattributes");
      if (!g.read_index_blob(rel) && !fs::exists(ws.root() / rel)) continue;
      std::string lprefix = level.empty() ? "" : level + "/";
      std::string in_level = c.weights_rel.substr(lprefix.size());
      std::vector<std::string> kept;
      auto is_lfs_line = [&](const std::string& line) {
        std::string t = trim(line);
        if (t.empty() || t[0] == '#' || t[0] == '"' || t.rfind("[attr]", 0) == 0) return false;
        std::vector<std::string> words;
        std::size_t p = 0;
        while (p < t.size()) {
          std::size_t q = t.find_first_of(" \t", p);
          if (q == std::string::npos) q = t.size();
          if (q > p) words.push_back(t.substr(p, q - p));
          p = t.find_first_not_of(" \t", q);
          if (p == std::string::npos) break;
        }
        if (words.size() < 2 || std::find(words.begin() + 1, words.end(), "filter=lfs") == words.end()) return false;
        if (!git_pattern_matches(words[0], in_level)) return false;
        std::vector<std::string> others;
        for (const std::string& ip : index_paths)
          if (ip != c.weights_rel && ip.rfind(lprefix, 0) == 0 &&
              git_pattern_matches(words[0], ip.substr(lprefix.size())))
            others.push_back(ip);
        if (others.empty()) return true;
        kept.push_back(rel + ": kept '" + t + "': it also applies to " + std::to_string(others.size()) +
                       " other tracked file" + (others.size() == 1 ? "" : "s") + " (" + others.front() +
                       (others.size() > 1 ? ", ..." : "") + ")");
        return false;
      };
      std::string text = g.read_index_blob(rel).value_or("");
      MigratePlan::Edit edit;
      edit.rel = rel;
      edit.text = without_lines(text, is_lfs_line, edit.lines);
      for (auto& k : kept) plan.notes.push_back(k);
      if (!edit.lines.empty()) {
        require_clean(rel);
        if (edit.text.find_first_not_of(" \t\r\n") == std::string::npos) {
          // Nothing left but blank lines: the file goes, as it came with `git lfs track`.
          plan.remove.push_back(rel);
          edit.text.clear();
        }
        plan.edits.push_back(std::move(edit));
      }
    }
  }

  // 3. Where the bytes are, verified against what the tool recorded.
  fs::path wt = ws.root() / c.weights_rel;
  struct stat lst {};
  bool wt_exists = ::lstat(wt.c_str(), &lst) == 0;
  bool wt_own = wt_exists && S_ISREG(lst.st_mode) && lst.st_nlink == 1;  // not a link into a cache
  auto hash_of = [&](const fs::path& file) {
    std::uint64_t size = fs::file_size(file);
    progress.start(size, 1);
    progress.item(c.weights_rel);
    util::ProgressDelta delta(progress);
    std::string h;
    if (c.tool == "DVC") {
      h = dvc_md5(file, c.out.hash != "md5", std::ref(delta));
    } else {
      util::Fd fd = util::open_read(file);
      h = util::sha256_read(fd, file, std::ref(delta)).sha256;
    }
    progress.item_done();
    return c.tool == "DVC" ? "md5:" + h : "sha256:" + h;
  };
  std::vector<fs::path> places;  // where to look when the work tree does not hold the bytes
  std::string looked;
  if (c.tool == "DVC") {
    if (auto root = dvc_root(ws, dir))
      places = dvc_cache_paths(*root, c.out);
    else
      looked = "no .dvc/ directory above " + shown_dir + ", so no DVC cache";
  } else {
    fs::path storage = g.commondir() / "lfs";
    if (auto s = git::config_get(g.config_file(), "lfs.storage"); s && !s->empty())
      storage = fs::path(*s).is_absolute() ? fs::path(*s) : g.commondir() / *s;
    places.push_back(storage / "objects" / c.lfs.oid.substr(0, 2) / c.lfs.oid.substr(2, 2) / c.lfs.oid);
  }
  bool pointer_in_wt = false;
  if (c.tool == "Git LFS" && wt_own && static_cast<std::uint64_t>(lst.st_size) <= 1024)
    pointer_in_wt = parse_lfs_pointer(util::read_file(wt)).has_value();
  fs::path source;
  if (wt_own && !pointer_in_wt) {
    // The work tree holds its own copy: it must be what the tool recorded.
    auto size = static_cast<std::uint64_t>(lst.st_size);
    std::string why;
    if (plan.size && size != plan.size) {
      why = std::to_string(size) + " bytes, " + c.tracking + " records " + std::to_string(plan.size);
    } else if (std::string h = hash_of(wt); h != plan.digest) {
      why = h + ", " + c.tracking + " records " + plan.digest;
    }
    if (!why.empty())
      throw Error(Exit::failure, c.weights_rel + ": local changes: it is not what " + c.tool + " tracks (" + why +
                                     "); record it with " + (c.tool == "DVC" ? "dvc add" : "git add and commit") +
                                     ", or restore it, first");
    source = wt;
    plan.from_work_tree = true;
  } else {
    for (const fs::path& p : places) {
      looked += (looked.empty() ? "" : ", ") + shown_path(ws, p);
      if (fs::is_regular_file(p, ec)) {
        source = p;
        break;
      }
    }
    if (source.empty() && wt_exists && !pointer_in_wt && fs::is_regular_file(wt, ec)) source = wt;  // a link
    if (source.empty())
      throw Error(Exit::missing, c.weights_rel + " (" + plan.digest + "): not in the " +
                                     (c.tool == "DVC" ? "DVC cache" : "Git LFS object store") + " (looked in " +
                                     looked + ") and the work tree holds " +
                                     (pointer_in_wt ? "only the LFS pointer" : "no copy") + "; fetch it with " +
                                     (c.tool == "DVC" ? "dvc pull" : "git lfs pull") + " first");
    plan.write_work_tree = true;
  }
  plan.source = shown_path(ws, source);
  auto verify = [&](const fs::path& file) {
    std::uint64_t size = fs::file_size(file);
    std::string why;
    if (plan.size && size != plan.size)
      why = "it has " + std::to_string(size) + " bytes, " + c.tracking + " records " + std::to_string(plan.size);
    else if (std::string h = hash_of(file); h != plan.digest)
      why = "its bytes hash to " + h + ", " + c.tracking + " records " + plan.digest;
    if (!why.empty()) throw Error(Exit::integrity, plan.source + ": corrupt: " + why + "; nothing changed");
  };

  // 4. The weights must fit the architecture (commit checks it again; this is before any write).
  {
    std::string hp = v.hparams_text.value_or("");
    arch::Architecture a = arch::parse_architecture(v.arch_text, v.arch_name, hp, v.hparams_name);
    WeightsInfo info = inspect_weights(source, c.weights_rel);
    check_fit(a, info, c.weights_rel, v.arch_name);
  }

  MigrateResult result;
  if (req.dry_run) {
    if (!plan.from_work_tree) verify(source);
    result.plan = plan;
    return result;
  }

  // 5. Put the bytes in the work tree (verified as copied), then one commit: the weights
  // stored, the pointer written, the old tracking removed (commit puts everything back if it fails).
  ws.prepare_writes({dir});
  Placement placement;
  if (plan.write_work_tree) {
    util::TempFile tmp(wt.parent_path(), weights_name);
    util::Fd in = util::open_read(source);
    util::copy_fd(in, tmp.fd(), source, tmp.path());
    verify(tmp.path());
    ::chmod(tmp.path().c_str(), util::with_umask(0666));
    placement.place(tmp, wt);
  }
  CommitRequest creq;
  creq.paths = {ws.root() / dir};
  creq.message = plan.message;
  creq.weights = wt;
  creq.progress = req.progress;
  for (const auto& e : plan.edits)
    if (std::find(plan.remove.begin(), plan.remove.end(), e.rel) == plan.remove.end())
      creq.also_write.emplace_back(e.rel, e.text);
  creq.also_remove = plan.remove;
  result.commit = commit_models(ws, creq);
  placement.keep();
  result.plan = std::move(plan);
  return result;
}

}  // namespace mvc::core
