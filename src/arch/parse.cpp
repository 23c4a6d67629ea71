// Parsing arch.toml (format "mvc.arch/1": the sequential form and the full form — graph
// inputs/outputs, blocks with arguments, repetition, conditional layers) and evaluating
// `${...}` expressions against hparams.toml, block arguments and repetition indices.
// The only file of src/arch that includes toml++.
#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include "arch/arch.h"
#include "arch/layer_types.h"
#include "mvc/error.h"
#include "util/text.h"

namespace mvc::arch {

namespace {

using detail::fail;
using detail::join;

// The formats this mvc reads: mvc.arch/1, and mvc.arch/2, which adds the vocabulary of
// docs/architecture.md's "Format versions" (a file that uses none of it stays mvc.arch/1).
constexpr const char* kFormat1 = "mvc.arch/1";
constexpr const char* kFormat = "mvc.arch/2";  // the newest
constexpr const char* kSupported = "mvc.arch/1, mvc.arch/2";
constexpr std::size_t kMaxDepth = 16;       // nesting of block instances
constexpr std::size_t kMaxLayers = 100000;  // leaf layers after expansion
constexpr std::int64_t kMaxRepeat = 10000;
constexpr std::size_t kMaxExpansion = 1000000;  // layer tables visited, conditional ones included

SourcePos at(const std::string& file, const toml::source_position& p) { return {file, p.line, p.column}; }

struct Entry {
  std::string key;
  const toml::node* node;
  SourcePos key_pos;
};

/// The entries of a table in the order they were written (toml++ keeps them sorted by key).
std::vector<Entry> ordered(const toml::table& t, const std::string& file) {
  std::vector<Entry> r;
  for (const auto& [k, v] : t) r.push_back({std::string(k.str()), &v, at(file, k.source().begin)});
  std::stable_sort(r.begin(), r.end(), [](const Entry& a, const Entry& b) {
    return std::pair(a.key_pos.line, a.key_pos.column) < std::pair(b.key_pos.line, b.key_pos.column);
  });
  return r;
}

std::string unknown_key_message(const std::string& what, const std::string& key,
                                const std::vector<std::string>& valid) {
  std::string msg = "unknown " + what + " '" + key + "' (valid: " + join(valid) + ")";
  if (auto s = detail::suggest(key, valid)) msg += "; did you mean '" + *s + "'?";
  return msg;
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}
bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }

/// What `${...}` may refer to besides hparams: a block's arguments and a repetition index.
struct Scope {
  const std::map<std::string, Value>* args = nullptr;  ///< null outside a block
  std::string block;                                   ///< the block's name, for messages
  std::optional<std::int64_t> index;                   ///< inside a repeated layer
};

Value make_int(std::int64_t i, const SourcePos& pos) {
  Value v;
  v.kind = Value::Kind::integer;
  v.i = i;
  v.pos = pos;
  return v;
}
Value make_bool(bool b, const SourcePos& pos) {
  Value v;
  v.kind = Value::Kind::boolean;
  v.b = b;
  v.pos = pos;
  return v;
}

class Parser;

/// The expression language inside `${...}`: integers, floats, strings, booleans; references
/// (`hparams.a.b`, `args.x`, `index`); + - * / // % (integer arithmetic is checked for
/// overflow), comparisons, && || !, and `cond ? a : b`. Evaluated directly while parsing;
/// the branch not taken by `?:`, `&&`, `||` is parsed but not evaluated.
class Expr {
 public:
  Expr(Parser& p, const Scope& scope, const std::string& text, const std::string& ref, const SourcePos& pos)
      : p_(p), scope_(scope), s_(text), ref_(ref), pos_(pos) {}
  Value run() {
    Value v = ternary(true);
    skip_ws();
    if (i_ != s_.size()) error("unexpected '" + s_.substr(i_) + "'");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& why) { fail(pos_, "invalid expression " + ref_ + ": " + why); }
  void skip_ws() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
  }
  bool eat(const std::string& tok) {
    skip_ws();
    if (s_.compare(i_, tok.size(), tok) != 0) return false;
    if (i_ + tok.size() < s_.size()) {
      char next = s_[i_ + tok.size()];
      if (tok == "/" && next == '/') return false;  // "//"
      if ((tok == "<" || tok == ">" || tok == "!") && next == '=') return false;
    }
    i_ += tok.size();
    return true;
  }
  std::string num_text(const Value& v) { return detail::describe(v); }
  std::int64_t as_int(const Value& v, const char* op) {
    if (v.kind != Value::Kind::integer) error(std::string("'") + op + "' needs integers, got " + num_text(v));
    return v.i;
  }
  bool is_num(const Value& v) { return v.kind == Value::Kind::integer || v.kind == Value::Kind::floating; }
  double as_double(const Value& v) { return v.kind == Value::Kind::integer ? static_cast<double>(v.i) : v.f; }
  bool truth(const Value& v) {
    if (v.kind != Value::Kind::boolean) error("a condition must be true or false, got " + num_text(v));
    return v.b;
  }

  Value ternary(bool live) {
    Value c = logic_or(live);
    if (!eat("?")) return c;
    bool t = live ? truth(c) : false;
    Value a = ternary(live && t);
    if (!eat(":")) error("expected ':' after '?'");
    Value b = ternary(live && !t);
    return !live ? c : (t ? a : b);
  }
  Value logic_or(bool live) {
    Value a = logic_and(live);
    while (eat("||")) {
      bool av = live ? truth(a) : false;
      Value b = logic_and(live && !av);
      if (live) a = make_bool(av || truth(b), pos_);
    }
    return a;
  }
  Value logic_and(bool live) {
    Value a = compare(live);
    while (eat("&&")) {
      bool av = live ? truth(a) : false;
      Value b = compare(live && av);
      if (live) a = make_bool(av && truth(b), pos_);
    }
    return a;
  }
  Value compare(bool live) {
    Value a = additive(live);
    for (const char* op : {"==", "!=", "<=", ">=", "<", ">"}) {
      if (!eat(op)) continue;
      Value b = additive(live);
      if (!live) return a;
      std::string o = op;
      if (o == "==" || o == "!=") {
        bool eq;
        if (is_num(a) && is_num(b))
          eq = as_double(a) == as_double(b) &&
               (a.kind != Value::Kind::integer || b.kind != Value::Kind::integer || a.i == b.i);
        else if (a.kind != b.kind)
          error("cannot compare " + num_text(a) + " with " + num_text(b));
        else if (a.kind == Value::Kind::string)
          eq = a.s == b.s;
        else if (a.kind == Value::Kind::boolean)
          eq = a.b == b.b;
        else
          error("cannot compare arrays");
        return make_bool(o == "==" ? eq : !eq, pos_);
      }
      if (!is_num(a) || !is_num(b)) error("'" + o + "' needs numbers, got " + num_text(a) + " and " + num_text(b));
      bool r;
      if (a.kind == Value::Kind::integer && b.kind == Value::Kind::integer)
        r = o == "<" ? a.i < b.i : o == ">" ? a.i > b.i : o == "<=" ? a.i <= b.i : a.i >= b.i;
      else {
        double x = as_double(a), y = as_double(b);
        r = o == "<" ? x < y : o == ">" ? x > y : o == "<=" ? x <= y : x >= y;
      }
      return make_bool(r, pos_);
    }
    return a;
  }
  Value arith(const std::string& op, const Value& a, const Value& b) {
    if (op == "+" && a.kind == Value::Kind::string && b.kind == Value::Kind::string) {
      Value r = a;
      r.s += b.s;
      return r;
    }
    if (!is_num(a) || !is_num(b)) error("'" + op + "' needs numbers, got " + num_text(a) + " and " + num_text(b));
    if (a.kind == Value::Kind::integer && b.kind == Value::Kind::integer) {
      std::int64_t x = a.i, y = b.i, r = 0;
      bool overflow = false;
      if (op == "+")
        overflow = __builtin_add_overflow(x, y, &r);
      else if (op == "-")
        overflow = __builtin_sub_overflow(x, y, &r);
      else if (op == "*")
        overflow = __builtin_mul_overflow(x, y, &r);
      else {
        if (y == 0) error("division by zero");
        if (x == INT64_MIN && y == -1)
          overflow = true;
        else if (op == "/") {
          if (x % y != 0)
            error(std::to_string(x) + " / " + std::to_string(y) + " is not an integer (use // to round down)");
          r = x / y;
        } else {
          std::int64_t q = x / y, m = x % y;
          if (m != 0 && ((m < 0) != (y < 0))) {
            --q;
            m += y;
          }
          r = op == "//" ? q : m;
        }
      }
      if (overflow) error("integer overflow in " + std::to_string(x) + " " + op + " " + std::to_string(y));
      return make_int(r, pos_);
    }
    double x = as_double(a), y = as_double(b), r = 0;
    if (op == "+")
      r = x + y;
    else if (op == "-")
      r = x - y;
    else if (op == "*")
      r = x * y;
    else if (op == "/")
      r = x / y;
    else
      error("'" + op + "' needs integers");
    Value v;
    v.kind = Value::Kind::floating;
    v.f = r;
    v.pos = pos_;
    return v;
  }
  Value additive(bool live) {
    Value a = multiplicative(live);
    for (;;) {
      std::string op = eat("+") ? "+" : eat("-") ? "-" : "";
      if (op.empty()) return a;
      Value b = multiplicative(live);
      if (live) a = arith(op, a, b);
    }
  }
  Value multiplicative(bool live) {
    Value a = unary(live);
    for (;;) {
      std::string op = eat("*") ? "*" : eat("//") ? "//" : eat("/") ? "/" : eat("%") ? "%" : "";
      if (op.empty()) return a;
      Value b = unary(live);
      if (live) a = arith(op, a, b);
    }
  }
  Value unary(bool live) {
    if (eat("-")) {
      Value a = unary(live);
      if (!live) return a;
      return arith("-", make_int(0, pos_), a);
    }
    if (eat("!")) {
      Value a = unary(live);
      return live ? make_bool(!truth(a), pos_) : a;
    }
    return primary(live);
  }
  Value primary(bool live);

  Parser& p_;
  const Scope& scope_;
  std::string s_, ref_;
  SourcePos pos_;
  std::size_t i_ = 0;
  int depth_ = 0;
};

class Parser {
 public:
  Parser(std::string arch_file, std::string hp_file) : arch_file_(std::move(arch_file)), hp_file_(std::move(hp_file)) {}

  void load_hparams(const std::string& text) {
    try {
      hp_ = toml::parse(std::string_view(text), std::string_view(hp_file_));
    } catch (const toml::parse_error& e) {
      if (std::size_t line = util::conflict_marker_line(text))
        fail({hp_file_, static_cast<std::uint32_t>(line), 1}, util::kConflictMarkersWhy);
      fail(at(hp_file_, e.source().begin), "invalid TOML: " + std::string(e.description()));
    }
  }

  /// Converts an arch.toml value, evaluating `${...}` in its strings. When the value (or the
  /// whole string) came from a reference, `origin` receives it ("${hparams.x}").
  /// Sets `v` from an integer, floating-point or boolean node; false for any other kind.
  static bool set_scalar(const toml::node& n, Value& v) {
    if (auto* i = n.as_integer()) {
      v.kind = Value::Kind::integer;
      v.i = i->get();
    } else if (auto* f = n.as_floating_point()) {
      v.kind = Value::Kind::floating;
      v.f = f->get();
    } else if (auto* b = n.as_boolean()) {
      v.kind = Value::Kind::boolean;
      v.b = b->get();
    } else {
      return false;
    }
    return true;
  }

  Value convert(const toml::node& n, const Scope& scope, std::string* origin = nullptr) {
    SourcePos pos = at(arch_file_, n.source().begin);
    Value v;
    v.pos = pos;
    if (auto* s = n.as_string()) return resolve_string(s->get(), pos, scope, origin);
    if (set_scalar(n, v)) {
    } else if (auto* a = n.as_array()) {
      v.kind = Value::Kind::array;
      for (const auto& item : *a) v.items.push_back(convert(item, scope, origin));
    } else if (n.is_table()) {
      fail(pos, "a table is not allowed here");
    } else {
      fail(pos, "dates and times are not allowed in an architecture file");
    }
    return v;
  }

  const std::string& arch_file() const { return arch_file_; }

  /// `hparams.a.b` (the path after "hparams."), with the messages of a missing key.
  Value hparam(const std::vector<std::string>& path, const std::string& ref, const SourcePos& pos) {
    const toml::table* table = &hp_;
    const toml::node* node = nullptr;
    std::string walked;
    for (std::size_t k = 0; k < path.size(); ++k) {
      node = table->get(path[k]);
      std::string here = walked.empty() ? path[k] : walked + "." + path[k];
      if (!node) {
        std::vector<std::string> keys;
        for (const auto& en : ordered(*table, hp_file_)) keys.push_back(en.key);
        std::string where = walked.empty() ? hp_file_ : "[" + walked + "] of " + hp_file_;
        std::string msg = "unknown reference " + ref + ": " + where + " has no key '" + path[k] + "'";
        if (keys.empty())
          msg += hp_.empty() ? " (the file is missing or empty)" : " (it is empty)";
        else
          msg += " (keys: " + join(keys) + ")";
        if (auto sug = detail::suggest(path[k], keys)) msg += "; did you mean '" + *sug + "'?";
        fail(pos, msg);
      }
      if (k + 1 < path.size()) {
        table = node->as_table();
        if (!table) fail(pos, "unknown reference " + ref + ": '" + here + "' in " + hp_file_ + " is not a table");
      }
      walked = here;
    }
    return from_hparams(*node, ref, pos);
  }

 private:
  /// Substitutes `${...}`. A string that is exactly one `${...}` yields the value with its own
  /// type; `${...}` inside other text is replaced by the value's text.
  Value resolve_string(const std::string& s, const SourcePos& pos, const Scope& scope, std::string* origin) {
    Value v;
    v.kind = Value::Kind::string;
    v.pos = pos;
    std::string out;
    std::size_t i = 0;
    while (i < s.size()) {
      std::size_t open = s.find("${", i);
      if (open == std::string::npos) {
        out += s.substr(i);
        break;
      }
      out += s.substr(i, open - i);
      std::size_t close = s.find('}', open + 2);
      if (close == std::string::npos) fail(pos, "unterminated reference '" + s.substr(open) + "' (missing '}')");
      std::string ref = "'" + s.substr(open, close + 1 - open) + "'";
      Value r = evaluate(s.substr(open + 2, close - open - 2), ref, pos, scope);
      r.pos = pos;
      if (origin) *origin = ref;
      if (open == 0 && close + 1 == s.size()) return r;  // the whole string is one reference
      if (r.kind == Value::Kind::array)
        fail(pos, "reference " + ref + " is an array; it cannot be embedded in the string \"" + s + "\"");
      out += r.kind == Value::Kind::string ? r.s : detail::value_text(r);
      i = close + 1;
    }
    v.s = out;
    return v;
  }

  Value evaluate(const std::string& raw_body, const std::string& ref, const SourcePos& pos, const Scope& scope) {
    auto b = raw_body.find_first_not_of(" \t"), e = raw_body.find_last_not_of(" \t");
    std::string body = b == std::string::npos ? "" : raw_body.substr(b, e - b + 1);
    // A plain hparams path (keys may contain '-', which is minus in an expression).
    if (body.rfind("hparams.", 0) == 0) {
      std::vector<std::string> path;
      std::string seg;
      bool ok = true;
      for (std::size_t i = 8; i <= body.size() && ok; ++i) {
        if (i == body.size() || body[i] == '.') {
          if (seg.empty()) ok = false;
          path.push_back(seg);
          seg.clear();
        } else if (is_key_char(body[i])) {
          seg += body[i];
        } else {
          ok = false;
        }
      }
      if (ok) return hparam(path, ref, pos);
    }
    if (body.empty()) fail(pos, "invalid reference " + ref + " (empty; expected e.g. '${hparams.<key>}')");
    return Expr(*this, scope, body, ref, pos).run();
  }

  Value from_hparams(const toml::node& n, const std::string& ref, const SourcePos& pos) {
    Value v;
    v.pos = pos;
    if (auto* s = n.as_string()) {
      v.kind = Value::Kind::string;
      v.s = s->get();
    } else if (set_scalar(n, v)) {
    } else if (auto* a = n.as_array()) {
      v.kind = Value::Kind::array;
      for (const auto& item : *a) v.items.push_back(from_hparams(item, ref, pos));
    } else if (n.is_table()) {
      fail(pos, "reference " + ref + " names a table in " + hp_file_ + " (" + at(hp_file_, n.source().begin).str() +
                    "); a value is needed");
    } else {
      fail(pos, "reference " + ref + " names a date or time in " + hp_file_ + "; it cannot be used here");
    }
    return v;
  }

  std::string arch_file_, hp_file_;
  toml::table hp_;
};

Value Expr::primary(bool live) {
  skip_ws();
  if (i_ >= s_.size()) error("unexpected end");
  char c = s_[i_];
  if (c == '(') {
    if (++depth_ > 64) error("too deeply nested");
    ++i_;
    Value v = ternary(live);
    if (!eat(")")) error("missing ')'");
    --depth_;
    return v;
  }
  if (c == '"' || c == '\'') {
    std::size_t end = s_.find(c, i_ + 1);
    if (end == std::string::npos) error("unterminated string");
    Value v;
    v.kind = Value::Kind::string;
    v.s = s_.substr(i_ + 1, end - i_ - 1);
    v.pos = pos_;
    i_ = end + 1;
    return v;
  }
  if (c >= '0' && c <= '9') {
    std::size_t j = i_;
    while (j < s_.size() && ((s_[j] >= '0' && s_[j] <= '9') || s_[j] == '.' || s_[j] == 'e' || s_[j] == 'E' ||
                             ((s_[j] == '-' || s_[j] == '+') && (s_[j - 1] == 'e' || s_[j - 1] == 'E'))))
      ++j;
    std::string t = s_.substr(i_, j - i_);
    i_ = j;
    Value v;
    v.pos = pos_;
    try {
      std::size_t used = 0;
      if (t.find_first_of(".eE") == std::string::npos) {
        v.kind = Value::Kind::integer;
        v.i = std::stoll(t, &used);
      } else {
        v.kind = Value::Kind::floating;
        v.f = std::stod(t, &used);
      }
      if (used != t.size()) error("invalid number '" + t + "'");
    } catch (const std::logic_error&) {
      error("invalid number '" + t + "'");
    }
    return v;
  }
  if (!is_ident_start(c)) error("unexpected '" + std::string(1, c) + "'");
  std::vector<std::string> path;
  for (;;) {
    std::size_t j = i_;
    while (j < s_.size() && is_ident_char(s_[j])) ++j;
    if (j == i_) error("a name must follow '.'");
    path.push_back(s_.substr(i_, j - i_));
    i_ = j;
    if (i_ < s_.size() && s_[i_] == '.') {
      ++i_;
      continue;
    }
    break;
  }
  const std::string& root = path[0];
  if (path.size() == 1 && (root == "true" || root == "false")) return make_bool(root == "true", pos_);
  if (!live) return make_bool(false, pos_);
  if (root == "hparams" && path.size() > 1) return p_.hparam({path.begin() + 1, path.end()}, ref_, pos_);
  if (root == "args" && path.size() == 2) {
    if (!scope_.args) fail(pos_, "unknown reference " + ref_ + ": 'args' exists only inside a block");
    auto it = scope_.args->find(path[1]);
    if (it == scope_.args->end()) {
      std::vector<std::string> names;
      for (const auto& [k, v] : *scope_.args) names.push_back(k);
      std::string msg = "unknown reference " + ref_ + ": block '" + scope_.block + "' has no argument '" + path[1] +
                        "' (arguments: " + (names.empty() ? std::string("none") : join(names)) + ")";
      if (auto s = detail::suggest(path[1], names)) msg += "; did you mean '" + *s + "'?";
      fail(pos_, msg);
    }
    Value v = it->second;
    v.pos = pos_;
    return v;
  }
  if (root == "index" && path.size() == 1) {
    if (!scope_.index) fail(pos_, "unknown reference " + ref_ + ": 'index' exists only in a layer with 'repeat'");
    return make_int(*scope_.index, pos_);
  }
  fail(pos_, "invalid reference " + ref_ +
                 " (expected hparams.<key>, args.<name> inside a block, index inside a repeated layer, numbers, "
                 "strings and + - * / // % == != < <= > >= && || ! ?:)");
}

// --- the document ---------------------------------------------------------------------------

std::string expect_string(Parser& p, const toml::node& n, const Scope& scope, const std::string& what) {
  std::string origin;
  Value v = p.convert(n, scope, &origin);
  if (v.kind != Value::Kind::string)
    fail(v.pos,
         what + " must be a string, got " + detail::describe(v) + (origin.empty() ? "" : " (from " + origin + ")"));
  return v.s;
}

/// `prefix` names the owner in messages ("input 'x': "), empty for the architecture's dtype.
std::string parse_dtype(Parser& p, const toml::node& n, bool floating_only, const std::string& prefix) {
  std::string s = expect_string(p, n, Scope{}, prefix + "dtype");
  auto c = detail::canonical_dtype(s);
  if (!c || (floating_only && !detail::is_floating_dtype(*c)))
    fail(at(p.arch_file(), n.source().begin),
         prefix + "unsupported dtype '" + s + "' (valid: " + detail::dtype_names(floating_only) + ")");
  return *c;
}

InputSpec parse_input(Parser& p, const Entry& e, const std::string& default_dtype) {
  InputSpec in;
  in.name = e.key;
  in.pos = e.key_pos;
  in.dtype = default_dtype;
  const toml::table* t = e.node->as_table();
  if (!t) fail(e.key_pos, "input '" + e.key + "' must be a table such as { shape = [\"batch\", 10] }");
  bool has_shape = false;
  for (const auto& f : ordered(*t, p.arch_file())) {
    if (f.key == "shape") {
      has_shape = true;
      std::string origin;
      Value v = p.convert(*f.node, Scope{}, &origin);
      if (v.kind != Value::Kind::array)
        fail(v.pos, "input '" + e.key + "': shape must be a list of sizes and names such as [\"batch\", 10], got " +
                        detail::describe(v));
      for (const auto& d : v.items) {
        if (d.kind == Value::Kind::integer && d.i >= 0)
          in.shape.emplace_back(d.i);
        else if (d.kind == Value::Kind::string && !d.s.empty())
          in.shape.emplace_back(d.s);
        else
          fail(d.pos, "input '" + e.key + "': a dimension must be a size >= 0 or a name such as \"batch\", got " +
                          detail::describe(d) + (origin.empty() ? "" : " (from " + origin + ")"));
      }
    } else if (f.key == "dtype") {
      in.dtype = parse_dtype(p, *f.node, false, "input '" + e.key + "': ");
    } else {
      fail(f.key_pos, "input '" + e.key + "': " + unknown_key_message("key", f.key, {"shape", "dtype"}));
    }
  }
  if (!has_shape) fail(e.key_pos, "input '" + e.key + "' has no 'shape' (e.g. shape = [\"batch\", 10])");
  return in;
}

/// A reusable block: `[blocks.<Name>]`.
struct Block {
  std::string name;
  SourcePos pos;
  std::vector<std::string> required;  ///< args without default
  std::vector<std::pair<std::string, const toml::node*>> defaults;
  std::vector<std::string> inputs{"x"};
  const toml::node* outputs = nullptr;  ///< list of local names; null = the last layer
  const toml::array* layers = nullptr;
};

/// The names visible in one scope (the top level or one block instance): local name → the
/// concrete single-tensor references it stands for ("fc", "lstm[1]", ...).
struct Names {
  std::map<std::string, std::vector<std::string>> refs;
  std::map<std::string, SourcePos> where;
  std::set<std::string> inputs;  ///< which names are inputs (of the graph or the block)
};

/// "lstm[1]" → ("lstm", 1); "fc" → ("fc", nullopt). nullopt when malformed.
std::optional<std::pair<std::string, std::optional<std::size_t>>> parse_ref(const std::string& r) {
  if (r.empty() || r.back() != ']') return std::pair{r, std::optional<std::size_t>{}};
  auto open = r.rfind('[');
  if (open == std::string::npos || open == 0 || open + 2 > r.size() - 1 + 1) return std::nullopt;
  std::string digits = r.substr(open + 1, r.size() - open - 2);
  if (digits.empty() || digits.size() > 6 || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::pair{r.substr(0, open), std::optional<std::size_t>{std::stoul(digits)}};
}

class Expander {
 public:
  Expander(Parser& p, Architecture& a, std::map<std::string, Block>& blocks) : p_(p), a_(a), blocks_(blocks) {}

  /// Expands `layers` into a_.layers. `prev` holds the references of the node a layer without
  /// `inputs` reads (empty: none). Returns the references of the last node.
  std::vector<std::string> expand(const toml::array& layers, const Scope& scope, const std::string& prefix,
                                  Names& names, std::vector<std::string> prev, std::size_t depth) {
    for (std::size_t i = 0; i < layers.size(); ++i) prev = layer(*layers.get(i), i, scope, prefix, names, prev, depth);
    return prev;
  }

  std::vector<std::string> resolve(const Value& n, const Names& names, const std::string& label) {
    if (n.kind != Value::Kind::string)
      fail(n.pos, label + ": inputs must be a list of names, got " + detail::describe(n));
    auto parts = parse_ref(n.s);
    auto it = parts ? names.refs.find(parts->first) : names.refs.end();
    if (it == names.refs.end()) {
      std::vector<std::string> valid;
      for (const auto& [k, v] : names.refs) valid.push_back(k);
      std::string msg =
          label + ": unknown input '" + n.s + "' (valid: the declared inputs and earlier layers: " + join(valid) + ")";
      if (auto s = detail::suggest(n.s, valid)) msg += "; did you mean '" + *s + "'?";
      fail(n.pos, msg);
    }
    const auto& refs = it->second;
    if (refs.empty())
      fail(n.pos, label + ": input '" + n.s + "' is a layer that is not run (run = false): it has no output");
    if (!parts->second) {
      if (refs.size() > 1) {
        std::vector<std::string> choices;
        for (std::size_t k = 0; k < refs.size(); ++k) choices.push_back(n.s + "[" + std::to_string(k) + "]");
        fail(n.pos, label + ": input '" + n.s + "' has " + std::to_string(refs.size()) + " outputs; name one (" +
                        join(choices) + ")");
      }
      return refs;
    }
    if (*parts->second >= refs.size())
      fail(n.pos, label + ": input '" + n.s + "': '" + parts->first + "' has " + std::to_string(refs.size()) +
                      " output" + (refs.size() == 1 ? "" : "s") + " (indices 0.." + std::to_string(refs.size() - 1) +
                      ")");
    return {refs[*parts->second]};
  }

 private:
  std::vector<std::string> layer(const toml::node& node, std::size_t index, const Scope& scope,
                                 const std::string& prefix, Names& names, const std::vector<std::string>& prev,
                                 std::size_t depth) {
    SourcePos pos = at(p_.arch_file(), node.source().begin);
    const toml::table* t = node.as_table();
    if (!t) fail(pos, "layers[" + std::to_string(index) + "] must be a table ([[layers]])");
    auto entries = ordered(*t, p_.arch_file());
    auto get = [&](const std::string& k) -> const Entry* {
      for (const auto& e : entries)
        if (e.key == k) return &e;
      return nullptr;
    };
    if (const Entry* when = get("when")) {
      Value w = p_.convert(*when->node, scope);
      if (w.kind != Value::Kind::boolean) fail(w.pos, "'when' must be true or false, got " + detail::describe(w));
      if (!w.b) return prev;
    }
    const Entry* name_e = get("name");
    if (!name_e) fail(pos, "layer #" + std::to_string(index + 1) + " has no 'name'");
    std::string name = expect_string(p_, *name_e->node, scope, "layer name");
    SourcePos name_pos = at(p_.arch_file(), name_e->node->source().begin);
    if (name.empty()) fail(name_pos, "layer #" + std::to_string(index + 1) + ": the name is empty");
    check_name(name, name_pos);
    // mvc.arch/2: `run = false` (a module built and registered, never run) and `shares` (a call
    // of an earlier layer's module).
    bool run = true;
    if (const Entry* run_e = get("run")) {
      Value v = p_.convert(*run_e->node, scope);
      if (v.kind != Value::Kind::boolean) fail(v.pos, "'run' must be true or false, got " + detail::describe(v));
      need_format2(v.pos, "layer '" + name + "': 'run'");
      run = v.b;
    }
    const Entry* type_e = get("type");
    std::string type, shares;
    std::map<std::string, Value> shared_options;
    SourcePos type_pos = pos;
    if (const Entry* sh = get("shares")) {
      SourcePos spos = at(p_.arch_file(), sh->node->source().begin);
      std::string target = expect_string(p_, *sh->node, scope, "shares");
      need_format2(spos, "layer '" + name + "': 'shares'");
      if (type_e)
        fail(at(p_.arch_file(), type_e->node->source().begin),
             "layer '" + name +
                 "': a layer with 'shares' has the type and options of the layer it shares; remove 'type'");
      if (!run) fail(spos, "layer '" + name + "': a layer with 'shares' is a call; it cannot have run = false");
      for (const auto& e : entries)
        if (e.key != "name" && e.key != "shares" && e.key != "inputs" && e.key != "repeat" && e.key != "when" &&
            e.key != "run")
          fail(e.key_pos, "layer '" + name + "': " +
                              unknown_key_message("key", e.key, {"name", "shares", "inputs", "repeat", "when"}) +
                              " (the options are those of the layer it shares)");
      const Layer* src = find_layer(prefix + target);
      if (!src) src = find_layer(target);
      if (!src) fail(spos, "layer '" + name + "': shares '" + target + "', which is not an earlier layer");
      if (!src->shares.empty()) src = find_layer(src->shares);
      const detail::LayerType* st = detail::find_layer_type(src->type);
      if (!st || st->is_op || st->max_inputs == 0)
        fail(spos, "layer '" + name + "': shares '" + target + "' (" + src->type +
                       "), which is not a module that runs on inputs: only a module's call can be shared");
      type = src->type;
      shares = src->name;
      shared_options = src->options;
    } else {
      if (!type_e) fail(pos, "layer '" + name + "' has no 'type' (known: " + known() + ")");
      type = expect_string(p_, *type_e->node, scope, "layer type");
      type_pos = at(p_.arch_file(), type_e->node->source().begin);
    }
    const detail::LayerType* lt = detail::find_layer_type(type);
    auto bit = blocks_.find(type);
    if (!run) {
      if (bit != blocks_.end())
        fail(pos, "layer '" + name +
                      "': run = false applies to a module layer, not to a block instance (write it on "
                      "the block's layers' modules)");
      if (lt && (lt->is_op || lt->max_inputs == 0))
        fail(pos, "layer '" + name + "' (" + type +
                      "): run = false applies to a module with an input (an operation registers nothing, a "
                      "Parameter or Buffer is not run)");
      if (const Entry* ins = get("inputs"))
        fail(at(p_.arch_file(), ins->node->source().begin),
             "layer '" + name + "' (" + type + "): takes no input: it is not run (run = false)");
    }
    if (!lt && bit == blocks_.end()) {
      std::vector<std::string> all = known_layer_types();
      for (const auto& [k, b] : blocks_) all.push_back(k);
      std::string msg = "unknown layer type '" + type + "' (known: " + known() + ")";
      if (auto s = detail::suggest(type, all)) msg += "; did you mean '" + *s + "'?";
      fail(type_pos, msg);
    }
    std::optional<std::int64_t> repeat;
    if (const Entry* r = get("repeat")) {
      Value v = p_.convert(*r->node, scope);
      if (v.kind != Value::Kind::integer || v.i < 1 || v.i > kMaxRepeat)
        fail(v.pos, "'repeat' must be an integer between 1 and " + std::to_string(kMaxRepeat) + ", got " +
                        detail::describe(v));
      repeat = v.i;
    }
    std::string label = "layer '" + name + "' (" + type + ")";
    std::vector<std::string> in_refs = prev;
    if (!run || (lt && lt->max_inputs == 0)) {  // not run; Parameter, Buffer: read nothing
      if (const Entry* ins = get("inputs"))
        fail(at(p_.arch_file(), ins->node->source().begin), label + ": takes no input (its output is its own tensor)");
      in_refs.clear();
    } else if (const Entry* ins = get("inputs")) {
      Value v = p_.convert(*ins->node, scope);
      std::vector<Value> list = v.kind == Value::Kind::array ? v.items : std::vector<Value>{v};
      if (v.kind == Value::Kind::array && list.empty())
        fail(v.pos, label + ": inputs must name at least one input or earlier layer");
      in_refs.clear();
      for (const auto& n : list)
        for (auto& r : resolve(n, names, label)) in_refs.push_back(r);
    } else if (prev.empty()) {
      if (names.inputs.size() > 1 && prefix.empty())
        fail(pos, label + ": several inputs are declared (" + join(a_input_names()) +
                      "); name the one this layer reads with inputs = [\"...\"]");
    } else if (prev.size() > 1) {
      fail(pos, label + ": the previous node has " + std::to_string(prev.size()) +
                    " outputs; name the one this layer reads, e.g. inputs = [\"" + prev[0] + "\"]");
    }
    if (names.refs.count(name)) {
      fail(pos, "duplicate layer name '" + name + "' (" +
                    (names.inputs.count(name) ? "an input of that name is declared at " : "first defined at ") +
                    names.where[name].str() + ")");
    }

    std::vector<std::string> out;
    const std::int64_t n = repeat.value_or(1);
    for (std::int64_t k = 0; k < n; ++k) {
      if (++visited_ > kMaxExpansion)
        fail(pos, label + ": the architecture expands to more than " + std::to_string(kMaxExpansion) +
                      " layers (check 'repeat' and nested blocks)");
      Scope item = scope;
      if (repeat) item.index = k;
      std::string local = repeat ? name + "." + std::to_string(k) : name;
      std::string full = prefix + local;
      std::vector<std::string> ins = k == 0 || !run ? in_refs : out;
      if (k > 0 && run && ins.size() != 1)
        fail(pos, label + ": a repeated layer must have one output to chain its copies, it has " +
                      std::to_string(ins.size()));
      if (bit != blocks_.end()) {
        out = instantiate(bit->second, entries, item, full, ins, pos, label, depth);
      } else {
        out = leaf(*lt, entries, item, full, ins, pos, type, run, shares, shares.empty() ? nullptr : &shared_options);
      }
      if (repeat) {
        names.refs[local] = out;
        names.where[local] = pos;
      }
    }
    names.refs[name] = out;
    names.where[name] = pos;
    return run ? out : prev;  // a layer not run: the next one reads what this one did not
  }

  /// The expanded layer of that full name, nullptr when there is none (yet).
  const Layer* find_layer(const std::string& full) const {
    for (auto it = a_.layers.rbegin(); it != a_.layers.rend(); ++it)
      if (it->name == full) return &*it;
    return nullptr;
  }

  void need_format2(const SourcePos& pos, const std::string& what) {
    if (a_.format == kFormat1)
      fail(pos, what + " needs format = \"" + kFormat + "\" (this file says " + kFormat1 + ")");
  }

  std::vector<std::string> leaf(const detail::LayerType& lt, const std::vector<Entry>& entries, const Scope& scope,
                                const std::string& full, const std::vector<std::string>& ins, const SourcePos& pos,
                                const std::string& type, bool run, const std::string& shares,
                                const std::map<std::string, Value>* shared_options) {
    Layer l;
    l.name = full;
    l.type = type;
    l.pos = pos;
    l.inputs = ins;
    l.run = run;
    l.shares = shares;
    if (shared_options) l.options = *shared_options;
    std::map<std::string, std::string> origins;
    for (const auto& e : entries) {
      if (e.key == "name" || e.key == "type" || e.key == "inputs" || e.key == "repeat" || e.key == "when" ||
          e.key == "run" || e.key == "shares")
        continue;
      if (!lt.option(e.key)) {
        std::vector<std::string> names;
        for (const auto& o : lt.options) names.push_back(o.name);
        std::string msg =
            detail::layer_label(l) + ": unknown option '" + e.key + "' (valid: " + lt.option_names() + ")";
        if (auto s = detail::suggest(e.key, names)) msg += "; did you mean '" + *s + "'?";
        fail(e.key_pos, msg);
      }
      std::string origin;
      Value v = p_.convert(*e.node, scope, &origin);
      if (!origin.empty()) origins[e.key] = origin;
      l.options[e.key] = std::move(v);
    }
    detail::validate_layer(l, lt, &origins);
    if (a_.format == kFormat1) {
      std::string what = detail::format2_construct(l, lt);
      if (!what.empty())
        fail(pos, detail::layer_label(l) + ": " + what + " needs format = \"" + kFormat + "\" (this file says " +
                      kFormat1 + ")");
    }
    if (a_.layers.size() >= kMaxLayers)
      fail(pos, "more than " + std::to_string(kMaxLayers) + " layers after expansion");
    auto [it, fresh] = full_names_.emplace(full, pos);
    if (!fresh) fail(pos, "duplicate layer name '" + full + "' (first defined at " + it->second.str() + ")");
    std::size_t n_out = lt.num_outputs ? lt.num_outputs(l) : 1;
    a_.layers.push_back(std::move(l));
    if (!run) return {};  // no value: reading it is an error (resolve)
    if (n_out == 1) return {full};
    std::vector<std::string> refs;
    for (std::size_t k = 0; k < n_out; ++k) refs.push_back(full + "[" + std::to_string(k) + "]");
    return refs;
  }

  std::vector<std::string> instantiate(const Block& b, const std::vector<Entry>& entries, const Scope& scope,
                                       const std::string& full, const std::vector<std::string>& ins,
                                       const SourcePos& pos, const std::string& label, std::size_t depth) {
    if (depth >= kMaxDepth)
      fail(pos, label + ": blocks nested more than " + std::to_string(kMaxDepth) + " deep (is block '" + b.name +
                    "' used inside itself?)");
    std::map<std::string, Value> args;
    std::vector<std::string> valid = b.required;
    for (const auto& [k, n] : b.defaults) valid.push_back(k);
    for (const auto& e : entries) {
      if (e.key == "name" || e.key == "type" || e.key == "inputs" || e.key == "repeat" || e.key == "when") continue;
      if (std::find(valid.begin(), valid.end(), e.key) == valid.end())
        fail(e.key_pos, label + ": " + unknown_key_message("argument", e.key, valid));
      args[e.key] = p_.convert(*e.node, scope);
    }
    for (const auto& r : b.required)
      if (!args.count(r))
        fail(pos, label + ": missing argument '" + r + "' (block '" + b.name + "' needs: " + join(b.required) + ")");
    Scope inner;
    inner.block = b.name;
    inner.args = &args;
    for (const auto& [k, n] : b.defaults)
      if (!args.count(k)) args[k] = p_.convert(*n, inner);
    if (ins.size() != b.inputs.size())
      fail(pos, label + ": block '" + b.name + "' takes " + std::to_string(b.inputs.size()) + " input" +
                    (b.inputs.size() == 1 ? "" : "s") + " (" + join(b.inputs) + "), got " + std::to_string(ins.size()));
    Names local;
    for (std::size_t k = 0; k < ins.size(); ++k) {
      local.refs[b.inputs[k]] = {ins[k]};
      local.where[b.inputs[k]] = b.pos;
      local.inputs.insert(b.inputs[k]);
    }
    auto last = expand(*b.layers, inner, full + ".", local, {ins[0]}, depth + 1);
    if (!b.outputs) return last;
    Value outs = p_.convert(*b.outputs, inner);
    std::vector<Value> list = outs.kind == Value::Kind::array ? outs.items : std::vector<Value>{outs};
    std::vector<std::string> refs;
    for (const auto& o : list)
      for (auto& r : resolve(o, local, "block '" + b.name + "' outputs")) refs.push_back(r);
    return refs;
  }

  void check_name(const std::string& name, const SourcePos& pos) {
    std::size_t start = 0;
    for (;;) {
      auto dot = name.find('.', start);
      std::string seg = name.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      if (seg.empty())
        fail(pos, "layer name '" + name + "' has an empty part (names are module paths such as 'layer1.0.conv1')");
      for (char c : seg)
        if (c == '[' || c == ']' || c == ' ' || static_cast<unsigned char>(c) < 0x20)
          fail(pos, "layer name '" + name + "' must not contain '[', ']', spaces or control characters");
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
  }

  std::string known() const {
    std::vector<std::string> all = known_layer_types();
    for (const auto& [k, b] : blocks_) all.push_back(k + " (block)");
    return join(all);
  }
  std::vector<std::string> a_input_names() const {
    std::vector<std::string> r;
    for (const auto& in : a_.inputs) r.push_back(in.name);
    return r;
  }

  Parser& p_;
  Architecture& a_;
  std::map<std::string, Block>& blocks_;
  std::map<std::string, SourcePos> full_names_;
  std::size_t visited_ = 0;
};

Block parse_block(Parser& p, const Entry& e) {
  Block b;
  b.name = e.key;
  b.pos = e.key_pos;
  if (detail::find_layer_type(e.key))
    fail(e.key_pos, "block '" + e.key + "' has the name of a layer type; choose another name");
  const toml::table* t = e.node->as_table();
  if (!t) fail(e.key_pos, "block '" + e.key + "' must be a table ([blocks." + e.key + "])");
  const std::vector<std::string> keys{"args", "defaults", "inputs", "outputs", "layers"};
  for (const auto& f : ordered(*t, p.arch_file())) {
    if (std::find(keys.begin(), keys.end(), f.key) == keys.end())
      fail(f.key_pos, "block '" + e.key + "': " + unknown_key_message("key", f.key, keys));
    if (f.key == "args" || f.key == "inputs") {
      Value v = p.convert(*f.node, Scope{});
      if (v.kind != Value::Kind::array)
        fail(v.pos, "block '" + e.key + "': " + f.key + " must be a list of names, got " + detail::describe(v));
      std::vector<std::string> names;
      for (const auto& x : v.items) {
        if (x.kind != Value::Kind::string || x.s.empty())
          fail(x.pos, "block '" + e.key + "': " + f.key + " must be a list of names, got " + detail::describe(x));
        names.push_back(x.s);
      }
      if (f.key == "inputs" && names.empty()) fail(v.pos, "block '" + e.key + "': inputs must name at least one input");
      (f.key == "args" ? b.required : b.inputs) = names;
    } else if (f.key == "defaults") {
      const toml::table* d = f.node->as_table();
      if (!d) fail(f.key_pos, "block '" + e.key + "': defaults must be a table such as { stride = 1 }");
      for (const auto& g : ordered(*d, p.arch_file())) b.defaults.emplace_back(g.key, g.node);
    } else if (f.key == "outputs") {
      b.outputs = f.node;
    } else {
      b.layers = f.node->as_array();
      if (!b.layers || b.layers->empty())
        fail(f.key_pos,
             "block '" + e.key + "': layers must be a non-empty array of tables ([[blocks." + e.key + ".layers]])");
    }
  }
  if (!b.layers) fail(e.key_pos, "block '" + e.key + "' has no layers ([[blocks." + e.key + ".layers]])");
  for (const auto& [k, n] : b.defaults)
    if (std::find(b.required.begin(), b.required.end(), k) != b.required.end())
      fail(b.pos, "block '" + e.key + "': argument '" + k + "' is in both args and defaults");
  return b;
}

}  // namespace

namespace {

/// `ties = { "lm_head.weight" = "transformer.wte.weight" }` (mvc.arch/2): each tied key shares the
/// tensor of its source, an earlier key of the state_dict with the same shape and dtype.
void parse_ties(Parser& p, const toml::node& node, Architecture& a) {
  const std::string& file = p.arch_file();
  SourcePos pos = at(file, node.source().begin);
  if (a.format == kFormat1)
    fail(pos, std::string("'ties' needs format = \"") + kFormat + "\" (this file says " + kFormat1 + ")");
  const toml::table* t = node.as_table();
  if (!t) fail(pos, "'ties' must be a table: \"<tied key>\" = \"<the earlier key it shares>\"");
  std::vector<ExpectedTensor> all = expected_state_dict(a);  // no tie recorded yet: every key
  std::map<std::string, std::size_t> index;
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < all.size(); ++i) {
    index[all[i].key] = i;
    keys.push_back(all[i].key);
  }
  auto unknown = [&](const SourcePos& at_pos, const std::string& k) {
    std::string msg = "ties: '" + k + "' is not a key of the state_dict";
    if (auto s = detail::suggest(k, keys)) msg += "; did you mean '" + *s + "'?";
    fail(at_pos, msg);
  };
  for (const auto& e : ordered(*t, file)) {
    Value v = p.convert(*e.node, Scope{});
    if (v.kind != Value::Kind::string)
      fail(v.pos, "ties: '" + e.key + "' must name the key it shares (a string), got " + detail::describe(v));
    auto k = index.find(e.key), s = index.find(v.s);
    if (k == index.end()) unknown(e.key_pos, e.key);
    if (s == index.end()) unknown(v.pos, v.s);
    if (k->second == s->second) fail(v.pos, "ties: '" + e.key + "' cannot be tied to itself");
    if (k->second < s->second)
      fail(v.pos, "ties: '" + e.key + "' comes before '" + v.s + "' in the state_dict; write \"" + v.s + "\" = \"" +
                      e.key + "\" (the weights file holds a tied tensor under its first key)");
    const auto &kt = all[k->second], &st = all[s->second];
    if (kt.shape != st.shape || kt.dtype != st.dtype)
      fail(v.pos, "ties: '" + e.key + "' (" + shape_str(Shape(kt.shape.begin(), kt.shape.end())) + " " + kt.dtype +
                      ") and '" + v.s + "' (" + shape_str(Shape(st.shape.begin(), st.shape.end())) + " " + st.dtype +
                      ") differ in shape or dtype");
    a.ties.push_back({e.key, v.s, e.key_pos});
  }
  for (const auto& tie : a.ties)
    for (const auto& other : a.ties)
      if (tie.source == other.key)
        fail(tie.pos, "ties: '" + tie.key + "' is tied to '" + tie.source + "', which is tied to '" + other.source +
                          "'; tie it to '" + other.source + "'");
}

}  // namespace

Architecture parse_architecture(const std::string& arch_toml, const std::string& arch_name,
                                const std::string& hparams_toml, const std::string& hparams_name) {
  Parser p(arch_name, hparams_name);
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(arch_toml), std::string_view(arch_name));
  } catch (const toml::parse_error& e) {
    if (std::size_t line = util::conflict_marker_line(arch_toml))
      fail({arch_name, static_cast<std::uint32_t>(line), 1}, util::kConflictMarkersWhy);
    fail(at(arch_name, e.source().begin), "invalid TOML: " + std::string(e.description()));
  }
  if (!hparams_toml.empty()) p.load_hparams(hparams_toml);

  Architecture a;
  a.file = arch_name;
  const SourcePos top{arch_name, 1, 1};

  // The format decides how everything else is read: check it first.
  const toml::node* format = doc.get("format");
  if (!format) fail(top, std::string("missing 'format' (expected format = \"") + kFormat1 + "\")");
  // Compatibility (docs/conventions.md): a later version of this format is a file this mvc
  // cannot read: exit 3 naming the version it needs, never a misread.
  if (format->is_string()) {
    const std::string& f = format->as_string()->get();
    const std::string stem = "mvc.arch/";
    if (f.rfind(stem, 0) == 0 && f.size() > stem.size() && f.size() <= stem.size() + 6 &&
        f.find_first_not_of("0123456789", stem.size()) == std::string::npos && std::stoi(f.substr(stem.size())) > 2)
      throw Error(Exit::not_repo, at(arch_name, format->source().begin).str() + ": format '" + f +
                                      "' needs a newer mvc (this one reads " + kSupported + ")");
  }
  if (!format->is_string() || (format->as_string()->get() != kFormat && format->as_string()->get() != kFormat1)) {
    std::ostringstream got;
    if (format->is_string())
      got << "'" << format->as_string()->get() << "'";
    else
      got << "(a " << format->type() << ")";
    fail(at(arch_name, format->source().begin), "unsupported format " + got.str() + " (supported: " + kSupported + ")");
  }
  a.format = format->as_string()->get();

  const std::vector<std::string> top_keys{"format", "name", "dtype", "inputs", "outputs", "blocks", "layers", "ties"};
  auto entries = ordered(doc, arch_name);
  for (const auto& e : entries)
    if (std::find(top_keys.begin(), top_keys.end(), e.key) == top_keys.end())
      fail(e.key_pos, unknown_key_message("key", e.key, top_keys));

  const toml::node* name = doc.get("name");
  if (!name) fail(top, "missing 'name' (e.g. name = \"my-model\")");
  a.name = expect_string(p, *name, Scope{}, "name");

  if (const toml::node* dt = doc.get("dtype")) a.dtype = parse_dtype(p, *dt, true, "");

  Names names;
  if (const toml::node* inputs = doc.get("inputs")) {
    const toml::table* t = inputs->as_table();
    if (!t) fail(at(arch_name, inputs->source().begin), "'inputs' must be a table ([inputs])");
    for (const auto& e : ordered(*t, arch_name)) {
      a.inputs.push_back(parse_input(p, e, a.dtype));
      names.refs[e.key] = {e.key};
      names.where[e.key] = e.key_pos;
      names.inputs.insert(e.key);
    }
  }

  std::map<std::string, Block> blocks;
  if (const toml::node* bs = doc.get("blocks")) {
    const toml::table* t = bs->as_table();
    if (!t) fail(at(arch_name, bs->source().begin), "'blocks' must be a table ([blocks.<Name>])");
    for (const auto& e : ordered(*t, arch_name)) blocks.emplace(e.key, parse_block(p, e));
  }

  const toml::node* layers = doc.get("layers");
  if (!layers) fail(top, "missing 'layers' (add at least one [[layers]] table)");
  const toml::array* arr = layers->as_array();
  if (!arr) fail(at(arch_name, layers->source().begin), "'layers' must be an array of tables ([[layers]])");
  if (arr->empty())
    fail(at(arch_name, layers->source().begin), "'layers' is empty (add at least one [[layers]] table)");

  Expander x(p, a, blocks);
  std::vector<std::string> first;
  if (a.inputs.size() == 1) first = {a.inputs[0].name};
  auto last = x.expand(*arr, Scope{}, "", names, first, 0);
  if (a.layers.empty()) fail(at(arch_name, layers->source().begin), "no layer is left after 'when' conditions");

  if (const toml::node* outs = doc.get("outputs")) {
    Value v = p.convert(*outs, Scope{});
    std::vector<Value> list = v.kind == Value::Kind::array ? v.items : std::vector<Value>{v};
    if (list.empty()) fail(v.pos, "'outputs' must name at least one layer");
    std::set<std::string> seen;
    for (const auto& o : list) {
      auto refs = x.resolve(o, names, "outputs");
      if (refs.size() != 1)
        fail(o.pos,
             "outputs: '" + o.s + "' has " + std::to_string(refs.size()) + " outputs; name one, e.g. '" + o.s + "[0]'");
      if (!seen.insert(o.s).second) fail(o.pos, "outputs: '" + o.s + "' is listed twice");
      a.outputs.push_back({o.s, refs[0], o.pos});
    }
  } else {
    for (const auto& r : last) a.outputs.push_back({r, r, a.layers.back().pos});
  }

  // A layer that cannot take its input's declared shape is an error of the file.
  detail::propagate_shapes(a, true);

  if (const toml::node* ties = doc.get("ties")) parse_ties(p, *ties, a);
  return a;
}

}  // namespace mvc::arch
