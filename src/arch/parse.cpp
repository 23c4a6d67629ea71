// Parsing arch.toml (format "mvc.arch/1", sequential form) and resolving `${hparams.key}`
// references against hparams.toml. The only file of src/arch that includes toml++.
#include <toml++/toml.h>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "arch/arch.h"
#include "arch/layer_types.h"
#include "mvc/error.h"

namespace mvc::arch {

namespace {

using detail::fail;
using detail::join;

constexpr const char* kFormat = "mvc.arch/1";

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

std::string unknown_key_message(const std::string& what, const std::string& key, const std::vector<std::string>& valid) {
  std::string msg = "unknown " + what + " '" + key + "' (valid: " + join(valid) + ")";
  if (auto s = detail::suggest(key, valid)) msg += "; did you mean '" + *s + "'?";
  return msg;
}

bool is_key_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

class Parser {
 public:
  Parser(std::string arch_file, std::string hp_file) : arch_file_(std::move(arch_file)), hp_file_(std::move(hp_file)) {}

  void load_hparams(const std::string& text) {
    try {
      hp_ = toml::parse(std::string_view(text), std::string_view(hp_file_));
    } catch (const toml::parse_error& e) {
      fail(at(hp_file_, e.source().begin), "invalid TOML: " + std::string(e.description()));
    }
  }

  /// Converts an arch.toml value, resolving references in its strings. When the value (or the
  /// whole string) came from a reference, `origin` receives it ("${hparams.x}").
  Value convert(const toml::node& n, std::string* origin = nullptr) {
    SourcePos pos = at(arch_file_, n.source().begin);
    Value v;
    v.pos = pos;
    if (auto* s = n.as_string()) return resolve_string(s->get(), pos, origin);
    if (auto* i = n.as_integer()) {
      v.kind = Value::Kind::integer;
      v.i = i->get();
    } else if (auto* f = n.as_floating_point()) {
      v.kind = Value::Kind::floating;
      v.f = f->get();
    } else if (auto* b = n.as_boolean()) {
      v.kind = Value::Kind::boolean;
      v.b = b->get();
    } else if (auto* a = n.as_array()) {
      v.kind = Value::Kind::array;
      for (const auto& item : *a) v.items.push_back(convert(item, origin));
    } else if (n.is_table()) {
      fail(pos, "a table is not allowed here");
    } else {
      fail(pos, "dates and times are not allowed in an architecture file");
    }
    return v;
  }

  const std::string& arch_file() const { return arch_file_; }

 private:
  /// Substitutes `${hparams.key}` references. A string that is exactly one reference yields the
  /// referenced value with its TOML type; references inside other text are replaced by the
  /// value's text.
  Value resolve_string(const std::string& s, const SourcePos& pos, std::string* origin) {
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
      if (close == std::string::npos)
        fail(pos, "unterminated reference '" + s.substr(open) + "' (missing '}')");
      std::string ref = "'" + s.substr(open, close + 1 - open) + "'";
      Value r = evaluate(s.substr(open + 2, close - open - 2), ref, pos);
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

  /// The expression inside `${...}`. This version knows references (`hparams.a.b`); arithmetic
  /// ("hparams.d * 4") would be evaluated here.
  Value evaluate(const std::string& raw_body, const std::string& ref, const SourcePos& pos) {
    auto b = raw_body.find_first_not_of(" \t"), e = raw_body.find_last_not_of(" \t");
    std::string body = b == std::string::npos ? "" : raw_body.substr(b, e - b + 1);
    std::vector<std::string> path;
    bool ok = body.rfind("hparams.", 0) == 0;
    if (ok) {
      std::string seg;
      for (std::size_t i = 8; i <= body.size(); ++i) {
        if (i == body.size() || body[i] == '.') {
          if (seg.empty()) ok = false;
          path.push_back(seg);
          seg.clear();
        } else if (is_key_char(body[i])) {
          seg += body[i];
        } else {
          ok = false;
          break;
        }
      }
    }
    if (!ok) {
      if (body.rfind("hparams.", 0) == 0 && body.find_first_of("+-*/%() ") != std::string::npos)
        fail(pos, "unsupported reference " + ref + ": arithmetic is not supported in " + kFormat +
                      " (write '${hparams.<key>}')");
      fail(pos, "invalid reference " + ref + " (expected '${hparams.<key>}', dotted keys reach into tables)");
    }
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
        if (!table)
          fail(pos, "unknown reference " + ref + ": '" + here + "' in " + hp_file_ + " is not a table");
      }
      walked = here;
    }
    Value v = from_hparams(*node, ref, pos);
    return v;
  }

  Value from_hparams(const toml::node& n, const std::string& ref, const SourcePos& pos) {
    Value v;
    v.pos = pos;
    if (auto* s = n.as_string()) {
      v.kind = Value::Kind::string;
      v.s = s->get();
    } else if (auto* i = n.as_integer()) {
      v.kind = Value::Kind::integer;
      v.i = i->get();
    } else if (auto* f = n.as_floating_point()) {
      v.kind = Value::Kind::floating;
      v.f = f->get();
    } else if (auto* b = n.as_boolean()) {
      v.kind = Value::Kind::boolean;
      v.b = b->get();
    } else if (auto* a = n.as_array()) {
      v.kind = Value::Kind::array;
      for (const auto& item : *a) v.items.push_back(from_hparams(item, ref, pos));
    } else if (n.is_table()) {
      fail(pos, "reference " + ref + " names a table in " + hp_file_ + " (" +
                    at(hp_file_, n.source().begin).str() + "); a value is needed");
    } else {
      fail(pos, "reference " + ref + " names a date or time in " + hp_file_ + "; it cannot be used here");
    }
    return v;
  }

  std::string arch_file_, hp_file_;
  toml::table hp_;
};

std::string expect_string(Parser& p, const toml::node& n, const std::string& what) {
  std::string origin;
  Value v = p.convert(n, &origin);
  if (v.kind != Value::Kind::string)
    fail(v.pos, what + " must be a string, got " + detail::describe(v) + (origin.empty() ? "" : " (from " + origin + ")"));
  return v.s;
}

/// `prefix` names the owner in messages ("input 'x': "), empty for the architecture's dtype.
std::string parse_dtype(Parser& p, const toml::node& n, bool floating_only, const std::string& prefix) {
  std::string s = expect_string(p, n, prefix + "dtype");
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
      Value v = p.convert(*f.node, &origin);
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

Layer parse_layer(Parser& p, const toml::node& node, std::size_t index, const std::set<std::string>& defined) {
  Layer l;
  l.pos = at(p.arch_file(), node.source().begin);
  const toml::table* t = node.as_table();
  if (!t) fail(l.pos, "layers[" + std::to_string(index) + "] must be a table ([[layers]])");
  auto entries = ordered(*t, p.arch_file());
  auto get = [&](const std::string& k) -> const Entry* {
    for (const auto& e : entries)
      if (e.key == k) return &e;
    return nullptr;
  };
  const Entry* name = get("name");
  if (!name) fail(l.pos, "layer #" + std::to_string(index + 1) + " has no 'name'");
  l.name = expect_string(p, *name->node, "layer name");
  SourcePos name_pos = at(p.arch_file(), name->node->source().begin);
  if (l.name.empty()) fail(name_pos, "layer #" + std::to_string(index + 1) + ": the name is empty");
  if (l.name.find('.') != std::string::npos)
    fail(name_pos, "layer name '" + l.name + "' must not contain '.' (it is a state_dict key prefix)");
  const Entry* type = get("type");
  if (!type)
    fail(l.pos, "layer '" + l.name + "' has no 'type' (known: " + join(known_layer_types()) + ")");
  l.type = expect_string(p, *type->node, "layer type");
  const detail::LayerType* lt = detail::find_layer_type(l.type);
  if (!lt) {
    std::string msg = "unknown layer type '" + l.type + "' (known: " + join(known_layer_types()) + ")";
    if (auto s = detail::suggest(l.type, known_layer_types())) msg += "; did you mean '" + *s + "'?";
    fail(at(p.arch_file(), type->node->source().begin), msg);
  }
  std::map<std::string, std::string> origins;
  for (const auto& e : entries) {
    if (e.key == "name" || e.key == "type") continue;
    if (e.key == "inputs") {
      Value v = p.convert(*e.node);
      std::vector<Value> names = v.kind == Value::Kind::array ? v.items : std::vector<Value>{v};
      if (v.kind == Value::Kind::array && names.empty())
        fail(v.pos, detail::layer_label(l) + ": inputs must name at least one input or earlier layer");
      for (const auto& n : names) {
        if (n.kind != Value::Kind::string)
          fail(n.pos, detail::layer_label(l) + ": inputs must be a list of names, got " + detail::describe(n));
        if (!defined.count(n.s)) {
          std::vector<std::string> valid(defined.begin(), defined.end());
          std::string msg = detail::layer_label(l) + ": unknown input '" + n.s +
                            "' (valid: the declared inputs and earlier layers: " + join(valid) + ")";
          if (auto s = detail::suggest(n.s, valid)) msg += "; did you mean '" + *s + "'?";
          fail(n.pos, msg);
        }
        l.inputs.push_back(n.s);
      }
      continue;
    }
    if (!lt->option(e.key)) {
      std::vector<std::string> names;
      for (const auto& o : lt->options) names.push_back(o.name);
      std::string msg = detail::layer_label(l) + ": unknown option '" + e.key + "' (valid: " + lt->option_names() +
                        ")";
      if (auto s = detail::suggest(e.key, names)) msg += "; did you mean '" + *s + "'?";
      fail(e.key_pos, msg);
    }
    std::string origin;
    Value v = p.convert(*e.node, &origin);
    if (!origin.empty()) origins[e.key] = origin;
    l.options[e.key] = std::move(v);
  }
  detail::validate_layer(l, *lt, &origins);
  return l;
}

}  // namespace

Architecture parse_architecture(const std::string& arch_toml, const std::string& arch_name,
                                const std::string& hparams_toml, const std::string& hparams_name) {
  Parser p(arch_name, hparams_name);
  toml::table doc;
  try {
    doc = toml::parse(std::string_view(arch_toml), std::string_view(arch_name));
  } catch (const toml::parse_error& e) {
    fail(at(arch_name, e.source().begin), "invalid TOML: " + std::string(e.description()));
  }
  if (!hparams_toml.empty()) p.load_hparams(hparams_toml);

  Architecture a;
  a.file = arch_name;
  const SourcePos top{arch_name, 1, 1};

  // The format decides how everything else is read: check it first.
  const toml::node* format = doc.get("format");
  if (!format) fail(top, std::string("missing 'format' (expected format = \"") + kFormat + "\")");
  if (!format->is_string() || format->as_string()->get() != kFormat) {
    std::ostringstream got;
    if (format->is_string())
      got << "'" << format->as_string()->get() << "'";
    else
      got << "(a " << format->type() << ")";
    fail(at(arch_name, format->source().begin), "unsupported format " + got.str() + " (supported: " + kFormat + ")");
  }
  a.format = kFormat;

  const std::vector<std::string> top_keys{"format", "name", "dtype", "inputs", "layers"};
  auto entries = ordered(doc, arch_name);
  for (const auto& e : entries)
    if (std::find(top_keys.begin(), top_keys.end(), e.key) == top_keys.end())
      fail(e.key_pos, unknown_key_message("key", e.key, top_keys));

  const toml::node* name = doc.get("name");
  if (!name) fail(top, "missing 'name' (e.g. name = \"my-model\")");
  a.name = expect_string(p, *name, "name");

  if (const toml::node* dt = doc.get("dtype")) a.dtype = parse_dtype(p, *dt, true, "");

  std::set<std::string> defined;
  std::map<std::string, SourcePos> where;
  if (const toml::node* inputs = doc.get("inputs")) {
    const toml::table* t = inputs->as_table();
    if (!t) fail(at(arch_name, inputs->source().begin), "'inputs' must be a table ([inputs])");
    for (const auto& e : ordered(*t, arch_name)) {
      a.inputs.push_back(parse_input(p, e, a.dtype));
      defined.insert(e.key);
      where[e.key] = e.key_pos;
    }
  }

  const toml::node* layers = doc.get("layers");
  if (!layers) fail(top, "missing 'layers' (add at least one [[layers]] table)");
  const toml::array* arr = layers->as_array();
  if (!arr) fail(at(arch_name, layers->source().begin), "'layers' must be an array of tables ([[layers]])");
  if (arr->empty()) fail(at(arch_name, layers->source().begin), "'layers' is empty (add at least one [[layers]] table)");
  for (std::size_t i = 0; i < arr->size(); ++i) {
    Layer l = parse_layer(p, *arr->get(i), i, defined);
    auto it = where.find(l.name);
    if (it != where.end())
      fail(l.pos, "duplicate layer name '" + l.name + "' (" +
                      (a.inputs.end() != std::find_if(a.inputs.begin(), a.inputs.end(),
                                                      [&](const InputSpec& s) { return s.name == l.name; })
                           ? "an input of that name is declared at "
                           : "first defined at ") +
                      it->second.str() + ")");
    defined.insert(l.name);
    where[l.name] = l.pos;
    a.layers.push_back(std::move(l));
  }

  // A layer that cannot take its input's declared shape is an error of the file.
  detail::propagate_shapes(a, true);
  return a;
}

}  // namespace mvc::arch
