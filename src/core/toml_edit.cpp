#include "core/toml_edit.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>

#include "core/toml_parse.h"
#include "mvc/error.h"

namespace mvc::core {

namespace {

bool is_bare(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool is_space(char c) { return c == ' ' || c == '\t'; }

std::size_t skip_ws(const std::string& s, std::size_t i) {
  while (i < s.size() && is_space(s[i])) ++i;
  return i;
}

/// A basic string's body from s[i] (just after the opening quote): its value, and i just after
/// the closing quote; nullopt when it does not close on this line or has an escape the editor
/// does not decode (then the key cannot be matched, and the file is refused).
std::optional<std::string> basic_string(const std::string& s, std::size_t& i) {
  std::string out;
  while (i < s.size()) {
    char c = s[i++];
    if (c == '"') return out;
    if (c != '\\') {
      out += c;
      continue;
    }
    if (i >= s.size()) return std::nullopt;
    char e = s[i++];
    switch (e) {
      case '"':
        out += '"';
        break;
      case '\\':
        out += '\\';
        break;
      case 'b':
        out += '\b';
        break;
      case 't':
        out += '\t';
        break;
      case 'n':
        out += '\n';
        break;
      case 'f':
        out += '\f';
        break;
      case 'r':
        out += '\r';
        break;
      case 'u': {
        if (i + 4 > s.size()) return std::nullopt;
        unsigned cp = 0;
        for (int k = 0; k < 4; ++k) {
          char h = s[i++];
          cp <<= 4;
          if (h >= '0' && h <= '9')
            cp |= unsigned(h - '0');
          else if (h >= 'a' && h <= 'f')
            cp |= unsigned(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F')
            cp |= unsigned(h - 'A' + 10);
          else
            return std::nullopt;
        }
        if (cp >= 0x80) return std::nullopt;  // keys mvc writes are ASCII
        out += static_cast<char>(cp);
        break;
      }
      default:
        return std::nullopt;
    }
  }
  return std::nullopt;
}

/// A key path (`a.b."c d".'e'`) from s[i]; i ends after it (and its trailing blanks).
std::optional<TomlEditor::Path> key_path(const std::string& s, std::size_t& i) {
  TomlEditor::Path path;
  while (true) {
    i = skip_ws(s, i);
    if (i >= s.size()) return std::nullopt;
    if (s[i] == '"') {
      ++i;
      auto k = basic_string(s, i);
      if (!k) return std::nullopt;
      path.push_back(*k);
    } else if (s[i] == '\'') {
      auto end = s.find('\'', i + 1);
      if (end == std::string::npos) return std::nullopt;
      path.push_back(s.substr(i + 1, end - i - 1));
      i = end + 1;
    } else {
      std::size_t b = i;
      while (i < s.size() && is_bare(s[i])) ++i;
      if (i == b) return std::nullopt;
      path.push_back(s.substr(b, i - b));
    }
    i = skip_ws(s, i);
    if (i < s.size() && s[i] == '.') {
      ++i;
      continue;
    }
    return path;
  }
}

/// The end of the value starting at s[i], or nullopt when it does not end on this line
/// (multi-line strings and arrays) or is not recognised.
std::optional<std::size_t> value_end(const std::string& s, std::size_t i) {
  if (i >= s.size()) return std::nullopt;
  if (s.compare(i, 3, "\"\"\"") == 0 || s.compare(i, 3, "'''") == 0) return std::nullopt;
  if (s[i] == '"') {
    ++i;
    if (!basic_string(s, i)) return std::nullopt;
    return i;
  }
  if (s[i] == '\'') {
    auto end = s.find('\'', i + 1);
    if (end == std::string::npos) return std::nullopt;
    return end + 1;
  }
  if (s[i] == '[' || s[i] == '{') {  // one-line array or inline table: balanced, strings skipped
    int depth = 0;
    while (i < s.size()) {
      char c = s[i];
      if (c == '"') {
        if (s.compare(i, 3, "\"\"\"") == 0) return std::nullopt;
        ++i;
        if (!basic_string(s, i)) return std::nullopt;
        continue;
      }
      if (c == '\'') {
        auto end = s.find('\'', i + 1);
        if (end == std::string::npos) return std::nullopt;
        i = end + 1;
        continue;
      }
      if (c == '#') return std::nullopt;  // a comment inside: the value goes on below
      if (c == '[' || c == '{') ++depth;
      if (c == ']' || c == '}') --depth;
      ++i;
      if (depth == 0) return i;
    }
    return std::nullopt;
  }
  // A number, boolean or date: up to a blank or a comment (a date's "T" may be a space, then
  // a time follows).
  std::size_t b = i;
  while (i < s.size() && !is_space(s[i]) && s[i] != '#') ++i;
  if (i < s.size() && s[i] == ' ' && i + 1 < s.size() && std::isdigit(static_cast<unsigned char>(s[i + 1])) &&
      i - b == 10 && s[b + 4] == '-') {
    ++i;
    while (i < s.size() && !is_space(s[i]) && s[i] != '#') ++i;
  }
  return i == b ? std::nullopt : std::optional<std::size_t>(i);
}

/// True when what follows s[i] is blanks and an optional comment.
bool rest_is_comment(const std::string& s, std::size_t i) {
  i = skip_ws(s, i);
  return i == s.size() || s[i] == '#';
}

bool starts_with(const TomlEditor::Path& p, const TomlEditor::Path& prefix) {
  return p.size() >= prefix.size() && std::equal(prefix.begin(), prefix.end(), p.begin());
}

std::string join(const TomlEditor::Path& p) {
  std::string out;
  for (std::size_t i = 0; i < p.size(); ++i) out += (i ? "." : "") + TomlEditor::key_text(p[i]);
  return out;
}

/// The table at `path` in `t`, created as needed; nullptr when a non-table is in the way.
toml::table* table_at(toml::table& t, const TomlEditor::Path& path, bool create) {
  toml::table* cur = &t;
  for (const std::string& k : path) {
    toml::node* n = cur->get(k);
    if (!n) {
      if (!create) return nullptr;
      n = &cur->insert(k, toml::table{}).first->second;
    }
    cur = n->as_table();
    if (!cur) return nullptr;
  }
  return cur;
}

}  // namespace

TomlEditor::TomlEditor(std::string text, std::string name, int code) : name_(std::move(name)) {
  expected_ = parse_toml(text, name_, static_cast<Exit>(code));
  std::size_t pos = 0;
  Path table;
  while (pos < text.size()) {
    std::size_t nl = text.find('\n', pos);
    Line l;
    l.text = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    l.eol = nl == std::string::npos ? "" : "\n";
    if (!l.text.empty() && l.text.back() == '\r') {
      l.text.pop_back();
      l.eol = "\r" + l.eol;
    }
    pos = nl == std::string::npos ? text.size() : nl + 1;
    lines_.push_back(std::move(l));
    if (bad_line_) continue;
    Line& line = lines_.back();
    std::size_t n = lines_.size();
    std::size_t i = skip_ws(line.text, 0);
    if (i == line.text.size()) continue;
    if (line.text[i] == '#') {
      line.kind = Line::Kind::comment;
      continue;
    }
    if (line.text.compare(i, 2, "[[") == 0) {
      bad_line_ = n;
      bad_why_ = "an array of tables";
      continue;
    }
    if (line.text[i] == '[') {
      ++i;
      auto p = key_path(line.text, i);
      if (!p || i >= line.text.size() || line.text[i] != ']' || !rest_is_comment(line.text, i + 1)) {
        bad_line_ = n;
        bad_why_ = "a table header it does not understand";
        continue;
      }
      line.kind = Line::Kind::header;
      line.path = table = *p;
      continue;
    }
    auto k = key_path(line.text, i);
    if (!k || i >= line.text.size() || line.text[i] != '=') {
      bad_line_ = n;
      bad_why_ = "a line it does not understand";
      continue;
    }
    i = skip_ws(line.text, i + 1);
    auto end = value_end(line.text, i);
    if (!end || !rest_is_comment(line.text, *end)) {
      bad_line_ = n;
      bad_why_ = "a value that does not end on its line";
      continue;
    }
    line.kind = Line::Kind::keyval;
    line.path = table;
    line.path.insert(line.path.end(), k->begin(), k->end());
    line.value_begin = i;
    line.value_end = *end;
  }
}

void TomlEditor::refuse(std::size_t line, const std::string& why) const {
  throw Error(Exit::failure,
              name_ + ":" + std::to_string(line) + ": cannot edit this file safely (" + why + "); edit it by hand");
}

void TomlEditor::check_editable() const {
  if (bad_line_) refuse(bad_line_, bad_why_);
}

std::string TomlEditor::eol() const {
  for (const Line& l : lines_)
    if (!l.eol.empty()) return l.eol;
  return "\n";
}

std::string TomlEditor::key_text(const std::string& key) {
  bool bare = !key.empty() && std::all_of(key.begin(), key.end(), is_bare);
  return bare ? key : value_text(key);
}

std::string TomlEditor::value_text(const Value& value) {
  if (auto* n = std::get_if<std::int64_t>(&value)) return std::to_string(*n);
  std::string out = "\"";
  for (char c : std::get<std::string>(value)) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::size_t TomlEditor::section_start(std::size_t header) const {
  std::size_t s = header;
  while (s > 0 && lines_[s - 1].kind == Line::Kind::comment) --s;
  return s;
}

std::size_t TomlEditor::section_end(std::size_t header) const {
  for (std::size_t i = header + 1; i < lines_.size(); ++i)
    if (lines_[i].kind == Line::Kind::header) return section_start(i);
  return lines_.size();
}

void TomlEditor::erase_lines(std::size_t begin, std::size_t end) {
  lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(begin), lines_.begin() + static_cast<std::ptrdiff_t>(end));
  // No doubled blank line where the lines were, and no blank lines left at the end.
  if (begin > 0 && lines_[begin - 1].kind == Line::Kind::blank &&
      (begin == lines_.size() || lines_[begin].kind == Line::Kind::blank))
    lines_.erase(lines_.begin() + static_cast<std::ptrdiff_t>(begin - 1));
  if (begin >= lines_.size())
    while (!lines_.empty() && lines_.back().kind == Line::Kind::blank) lines_.pop_back();
  if (!lines_.empty() && lines_.back().eol.empty()) lines_.back().eol = eol();
}

void TomlEditor::set(const Path& path, const Value& value) {
  check_editable();
  Path table(path.begin(), path.end() - 1);
  toml::table* t = table_at(expected_, table, true);
  if (!t) refuse(1, join(table) + " is not a table");
  if (auto* n = std::get_if<std::int64_t>(&value))
    t->insert_or_assign(path.back(), *n);
  else
    t->insert_or_assign(path.back(), std::get<std::string>(value));
  std::string v = value_text(value);
  // Where the key is defined: its value replaced, the rest of the line kept.
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    Line& l = lines_[i];
    if (l.kind != Line::Kind::keyval || l.path != path) continue;
    l.text = l.text.substr(0, l.value_begin) + v + l.text.substr(l.value_end);
    l.value_end = l.value_begin + v.size();
    touched_ = i + 1;
    return;
  }
  Line kv;
  kv.kind = Line::Kind::keyval;
  kv.path = path;
  kv.eol = eol();
  // Its table's header: the new line after the table's last key, indented like it.
  std::optional<std::size_t> header;
  for (std::size_t i = 0; i < lines_.size(); ++i)
    if (lines_[i].kind == Line::Kind::header && lines_[i].path == table) header = i;
  if (header || table.empty()) {
    std::size_t at = 0, end = header ? section_end(*header) : lines_.size();
    std::string indent;
    if (header) at = *header + 1;
    for (std::size_t i = header ? *header + 1 : 0; i < end; ++i) {
      if (!header && lines_[i].kind == Line::Kind::header) break;
      if (lines_[i].kind == Line::Kind::keyval) {
        at = i + 1;
        indent = lines_[i].text.substr(0, skip_ws(lines_[i].text, 0));
      }
    }
    kv.text = indent + key_text(path.back()) + " = ";
    kv.value_begin = kv.text.size();
    kv.text += v;
    kv.value_end = kv.text.size();
    if (at > 0 && lines_[at - 1].eol.empty()) lines_[at - 1].eol = eol();
    lines_.insert(lines_.begin() + static_cast<std::ptrdiff_t>(at), kv);
    touched_ = at + 1;
    return;
  }
  // A new table: after the last section of a table sharing its first key (`[remote.b]` after
  // `[remote.a]`), else at the end, after a blank line.
  std::optional<std::size_t> after;
  for (std::size_t i = 0; i < lines_.size(); ++i)
    if (lines_[i].kind == Line::Kind::header && !lines_[i].path.empty() && lines_[i].path[0] == table[0]) after = i;
  std::size_t at = lines_.size();
  if (after) {
    at = *after + 1;
    for (std::size_t i = *after + 1; i < section_end(*after); ++i)
      if (lines_[i].kind != Line::Kind::blank) at = i + 1;
  }
  Line h;
  h.kind = Line::Kind::header;
  h.path = table;
  h.text = "[" + join(table) + "]";
  h.eol = eol();
  kv.text = key_text(path.back()) + " = ";
  kv.value_begin = kv.text.size();
  kv.text += v;
  kv.value_end = kv.text.size();
  std::vector<Line> add;
  Line blank;
  blank.eol = eol();
  if (at > 0 && lines_[at - 1].eol.empty()) lines_[at - 1].eol = eol();
  if (at > 0 && lines_[at - 1].kind != Line::Kind::blank) add.push_back(blank);
  add.push_back(h);
  add.push_back(kv);
  if (at < lines_.size() && lines_[at].kind != Line::Kind::blank) add.push_back(blank);
  lines_.insert(lines_.begin() + static_cast<std::ptrdiff_t>(at), add.begin(), add.end());
  touched_ = at + add.size();
}

void TomlEditor::prune(Path table) {
  while (!table.empty()) {
    toml::table* t = table_at(expected_, table, false);
    if (!t || !t->empty()) return;
    for (const Line& l : lines_)
      if (l.kind == Line::Kind::header && l.path == table) return;  // an explicit empty table stays
    table_at(expected_, Path(table.begin(), table.end() - 1), false)->erase(table.back());
    table.pop_back();
  }
}

bool TomlEditor::unset(const Path& path) {
  check_editable();
  Path table(path.begin(), path.end() - 1);
  toml::table* t = table_at(expected_, table, false);
  if (!t || !t->get(path.back())) return false;
  t->erase(path.back());
  bool found = false;
  for (std::size_t i = lines_.size(); i-- > 0;) {
    if (i >= lines_.size() || lines_[i].kind != Line::Kind::keyval || lines_[i].path != path) continue;
    touched_ = i + 1;
    erase_lines(i, i + 1);
    found = true;
  }
  if (!found) return true;  // defined where a line edit cannot reach: text() refuses
  // Its table's header goes with the last key, unless comments or other keys remain.
  for (std::size_t i = 0; i < lines_.size(); ++i) {
    if (lines_[i].kind != Line::Kind::header || lines_[i].path != table) continue;
    std::size_t end = section_end(i);
    bool empty = true;
    for (std::size_t j = i + 1; j < end; ++j) empty = empty && lines_[j].kind == Line::Kind::blank;
    bool comments_above = section_start(i) != i;
    if (empty && !comments_above && t->empty()) erase_lines(i, end);
    break;
  }
  prune(table);
  return true;
}

bool TomlEditor::remove_table(const Path& path) {
  check_editable();
  toml::table* parent = table_at(expected_, Path(path.begin(), path.end() - 1), false);
  if (!parent || !parent->get(path.back())) return false;
  parent->erase(path.back());
  for (std::size_t i = lines_.size(); i-- > 0;) {
    if (i >= lines_.size()) continue;
    const Line& l = lines_[i];
    if (l.kind == Line::Kind::header && starts_with(l.path, path)) {
      touched_ = i + 1;
      erase_lines(section_start(i), section_end(i));
    } else if (l.kind == Line::Kind::keyval && starts_with(l.path, path)) {
      touched_ = i + 1;
      erase_lines(i, i + 1);
    }
  }
  prune(Path(path.begin(), path.end() - 1));
  return true;
}

std::string TomlEditor::text() const {
  std::string out;
  for (const Line& l : lines_) out += l.text + l.eol;
  toml::table got;
  try {
    got = toml::parse(out, name_);
  } catch (const toml::parse_error& e) {
    refuse(e.source().begin.line, std::string(e.description()));
  }
  if (got != expected_) refuse(touched_ ? touched_ : 1, "a key defined where a line edit cannot change it");
  return out;
}

}  // namespace mvc::core
