// Restricted unpickler, torch-free. See pickle.h for what it accepts and why.
#include "weights/pickle.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "mvc/error.h"
#include "util/text.h"

namespace mvc::weights::pickle {

namespace {

using Kind = Value::Kind;

// The storage types of torch.save's persistent ids (torch/storage.py), mapped to mvc dtypes.
struct StorageType {
  std::string_view name;
  std::optional<DType> dtype;  // nullopt: a torch dtype mvc does not handle
};
constexpr std::array<StorageType, 16> kStorageTypes{{
    {"FloatStorage", DType::F32},
    {"DoubleStorage", DType::F64},
    {"HalfStorage", DType::F16},
    {"BFloat16Storage", DType::BF16},
    {"LongStorage", DType::I64},
    {"IntStorage", DType::I32},
    {"ShortStorage", DType::I16},
    {"CharStorage", DType::I8},
    {"ByteStorage", DType::U8},
    {"BoolStorage", DType::BOOL},
    {"ComplexFloatStorage", DType::C64},
    {"ComplexDoubleStorage", std::nullopt},
    {"QInt8Storage", std::nullopt},
    {"QUInt8Storage", std::nullopt},
    {"QInt32Storage", std::nullopt},
    {"QUInt4x2Storage", std::nullopt},
}};

const StorageType* storage_type(std::string_view global) {
  if (global.rfind("torch.", 0) != 0) return nullptr;
  std::string_view n = global.substr(6);
  for (const auto& t : kStorageTypes)
    if (t.name == n) return &t;
  return nullptr;
}

constexpr std::string_view kOrderedDict = "collections.OrderedDict";
constexpr std::string_view kRebuildTensor = "torch._utils._rebuild_tensor_v2";
constexpr std::string_view kRebuildParameter = "torch._utils._rebuild_parameter";
constexpr std::string_view kRebuildParameterWithState = "torch._utils._rebuild_parameter_with_state";

bool allowed_global(std::string_view g) {
  return g == kOrderedDict || g == kRebuildTensor || g == kRebuildParameter || g == kRebuildParameterWithState ||
         storage_type(g) != nullptr;
}

/// `s` quoted in an error message: escaped, cut at 120 bytes.
std::string printable(std::string_view s) { return util::printable(s, 120); }

Ref make(Kind k) {
  auto v = std::make_shared<Value>();
  v->kind = k;
  return v;
}

class Unpickler {
 public:
  Unpickler(std::string_view data, const std::string& what) : d_(data), what_(what) {}

  Ref run() {
    while (true) {
      if (pos_ >= d_.size()) fail("pickle ends without a STOP opcode (truncated?)");
      op_at_ = pos_;
      auto op = static_cast<unsigned char>(d_[pos_++]);
      switch (op) {
        case 0x80: {  // PROTO
          auto p = u8();
          if (p > 5) fail("pickle protocol " + std::to_string(p) + " is not supported (at most 5)");
          break;
        }
        case 0x95:
          (void)take(8);
          break;     // FRAME: a length hint only
        case '.': {  // STOP
          if (stack_.size() != 1 || !marks_.empty())
            fail("pickle stops with " + std::to_string(stack_.size()) + " values on the stack");
          return stack_.back();
        }
        case '(':
          marks_.push_back(stack_.size());
          break;
        case '0':
          pop();
          break;
        case '1':
          (void)pop_mark();
          break;
        case '2':
          push(top());
          break;
        case 'N':
          push(make(Kind::none));
          break;
        case 0x88:
        case 0x89: {
          auto v = make(Kind::boolean);
          v->b = op == 0x88;
          push(v);
          break;
        }
        case 'J':
          push_int(static_cast<std::int32_t>(le(4)));
          break;
        case 'K':
          push_int(static_cast<std::int64_t>(le(1)));
          break;
        case 'M':
          push_int(static_cast<std::int64_t>(le(2)));
          break;
        case 0x8a:
          push_long(u8());
          break;
        case 0x8b:
          push_long(le(4));
          break;
        case 'G': {
          std::uint64_t bits = 0;
          auto b = take(8);
          for (int i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
          auto v = make(Kind::floating);
          std::memcpy(&v->f, &bits, 8);
          push(v);
          break;
        }
        case 'X':
          push_str(Kind::string, le(4));
          break;
        case 0x8c:
          push_str(Kind::string, u8());
          break;
        case 0x8d:
          push_str(Kind::string, le(8));
          break;
        case 'B':
          push_str(Kind::bytes, le(4));
          break;
        case 'C':
          push_str(Kind::bytes, u8());
          break;
        case 0x8e:
          push_str(Kind::bytes, le(8));
          break;
        case ']':
          push(make(Kind::list));
          break;
        case '}':
          push(make(Kind::dict));
          break;
        case ')':
          push(make(Kind::tuple));
          break;
        case 'l':
        case 't': {
          auto items = pop_mark();
          auto v = make(op == 'l' ? Kind::list : Kind::tuple);
          for (auto& x : items) add_item(*v, x);
          push(v);
          break;
        }
        case 0x85:
        case 0x86:
        case 0x87: {
          std::size_t n = op - 0x84u;
          if (stack_.size() < base() + n) fail("stack underflow");
          auto v = make(Kind::tuple);
          for (std::size_t i = stack_.size() - n; i < stack_.size(); ++i) add_item(*v, stack_[i]);
          stack_.resize(stack_.size() - n);
          push(v);
          break;
        }
        case 'a': {
          auto x = pop();
          add_item(expect_mutable(top(), Kind::list, "APPEND"), x);
          break;
        }
        case 'e': {
          auto items = pop_mark();
          Value& l = expect_mutable(top(), Kind::list, "APPENDS");
          for (auto& x : items) add_item(l, x);
          break;
        }
        case 'd': {
          auto items = pop_mark();
          if (items.size() % 2) fail("DICT with an odd number of items");
          auto v = make(Kind::dict);
          for (std::size_t i = 0; i < items.size(); i += 2) set_item(*v, items[i], items[i + 1]);
          push(v);
          break;
        }
        case 's': {
          auto val = pop();
          auto key = pop();
          set_item(expect_mutable(top(), Kind::dict, "SETITEM"), key, val);
          break;
        }
        case 'u': {
          auto items = pop_mark();
          if (items.size() % 2) fail("SETITEMS with an odd number of items");
          Value& dct = expect_mutable(top(), Kind::dict, "SETITEMS");
          for (std::size_t i = 0; i < items.size(); i += 2) set_item(dct, items[i], items[i + 1]);
          break;
        }
        case 'q':
          memo_put(u8());
          break;
        case 'r':
          memo_put(le(4));
          break;
        case 0x94:
          memo_put(memo_.size());
          break;
        case 'h':
          memo_get(u8());
          break;
        case 'j':
          memo_get(le(4));
          break;
        case 'c': {
          std::string module = line();
          std::string name = line();
          push_global(module, name);
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          auto name = pop();
          auto module = pop();
          if (module->kind != Kind::string || name->kind != Kind::string) fail("STACK_GLOBAL needs two strings");
          push_global(module->s, name->s);
          break;
        }
        case 'i': {  // INST: module\nname\n — a global by another opcode
          std::string module = line();
          std::string name = line();
          push_global(module, name);  // refuses: INST can only make instances
          fail("INST opcode is not supported");
        }
        case 'Q':
          persistent_load(pop());
          break;
        case 'R':
          reduce();
          break;
        case 'b':
          build();
          break;
        case 0x81:
        case 0x92:
        case 'o':
          fail(std::string("opcode ") + opname(op) + " (creating an object) is not allowed");
        case 0x82:
        case 0x83:
        case 0x84:
          fail(std::string("opcode ") + opname(op) + " (a global from the copyreg extension registry) is not allowed");
        default:
          fail("unsupported pickle opcode " + opname(op));
      }
    }
  }

 private:
  std::string_view d_;
  const std::string& what_;
  std::size_t pos_ = 0;
  std::size_t op_at_ = 0;
  std::vector<Ref> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, Ref> memo_;
  std::unordered_map<std::string, std::shared_ptr<const Storage>> storages_;

  static std::string opname(unsigned char op) {
    static const char* hex = "0123456789abcdef";
    std::string s = "0x";
    s += hex[op >> 4];
    s += hex[op & 15];
    if (op >= 0x20 && op < 0x7F) s += std::string(" ('") + static_cast<char>(op) + "')";
    return s;
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw Error(Exit::model, what_ + ": " + why + " (pickle offset " + std::to_string(op_at_) + ")");
  }

  std::string_view take(std::uint64_t n) {
    if (n > d_.size() - pos_) fail("pickle is truncated");
    auto s = d_.substr(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }
  std::uint64_t le(int n) {
    auto b = take(static_cast<std::uint64_t>(n));
    std::uint64_t v = 0;
    for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[static_cast<std::size_t>(i)]);
    return v;
  }
  std::uint64_t u8() { return le(1); }
  std::string line() {
    auto nl = d_.find('\n', pos_);
    if (nl == std::string_view::npos || nl - pos_ > 1000) fail("GLOBAL without a newline-terminated name");
    std::string s(d_.substr(pos_, nl - pos_));
    pos_ = nl + 1;
    return s;
  }

  std::size_t base() const { return marks_.empty() ? 0 : marks_.back(); }
  void push(Ref v) { stack_.push_back(std::move(v)); }
  Ref pop() {
    if (stack_.size() <= base()) fail("stack underflow");
    Ref v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  const Ref& top() {
    if (stack_.size() <= base()) fail("stack underflow");
    return stack_.back();
  }
  std::vector<Ref> pop_mark() {
    if (marks_.empty()) fail("MARK expected");
    std::size_t m = marks_.back();
    marks_.pop_back();
    std::vector<Ref> items(std::make_move_iterator(stack_.begin() + static_cast<std::ptrdiff_t>(m)),
                           std::make_move_iterator(stack_.end()));
    stack_.resize(m);
    return items;
  }

  void push_int(std::int64_t i) {
    auto v = make(Kind::integer);
    v->i = i;
    push(v);
  }
  void push_long(std::uint64_t n) {
    if (n > 8) fail("integer of " + std::to_string(n) + " bytes does not fit 64 bits");
    auto b = take(n);
    std::uint64_t u = 0;
    for (std::size_t i = n; i-- > 0;) u = (u << 8) | static_cast<unsigned char>(b[i]);
    if (n > 0 && n < 8 && (static_cast<unsigned char>(b[n - 1]) & 0x80)) u |= ~std::uint64_t{0} << (8 * n);  // sign
    push_int(static_cast<std::int64_t>(u));
  }
  void push_str(Kind k, std::uint64_t n) {
    auto v = make(k);
    v->s = std::string(take(n));
    push(v);
  }

  Value& expect_mutable(const Ref& v, Kind k, const char* op) {
    if (v->kind != k) fail(std::string(op) + " on a " + v->type_name());
    if (v->frozen)
      fail(std::string(op) + " changes a container already placed in another (cyclic structures are refused)");
    return *v;
  }
  void adopt(Value& parent, const Ref& child) {
    if (child.get() == &parent) fail("a container that contains itself is refused");
    if (parent.frozen) fail("a container is changed after it was placed in another");
    child->frozen = true;
    parent.depth = std::max(parent.depth, child->depth + 1);
    if (parent.depth > kMaxDepth) fail("values nest deeper than " + std::to_string(kMaxDepth) + " levels");
  }
  void add_item(Value& container, const Ref& x) {
    adopt(container, x);
    container.items.push_back(x);
  }
  void set_item(Value& dct, const Ref& k, const Ref& v) {
    adopt(dct, k);
    adopt(dct, v);
    // Repeated keys are kept here (Python would keep the last); the state-dict reader refuses them.
    dct.entries.emplace_back(k, v);
  }

  void memo_put(std::uint64_t i) {
    if (stack_.size() <= base()) fail("memo put with an empty stack");
    if (i > d_.size()) fail("memo index " + std::to_string(i) + " out of range");
    memo_[i] = stack_.back();
  }
  void memo_get(std::uint64_t i) {
    auto it = memo_.find(i);
    if (it == memo_.end()) fail("memo index " + std::to_string(i) + " was never stored");
    push(it->second);
  }

  void push_global(const std::string& module, const std::string& name) {
    std::string g = module + "." + name;
    if (!allowed_global(g))
      fail("global '" + printable(g) +
           "' is not allowed in a weights file (mvc reads tensors, storages, OrderedDict, dict, list, tuple, "
           "numbers, strings, bools and None; nothing is ever called)");
    auto v = make(Kind::global);
    v->s = g;
    push(v);
  }

  void persistent_load(const Ref& pid) {
    if (pid->kind != Kind::tuple || pid->items.size() != 5 || pid->items[0]->kind != Kind::string ||
        pid->items[0]->s != "storage")
      fail("persistent id is not ('storage', type, key, location, numel)");
    const auto& it = pid->items;
    if (it[1]->kind != Kind::global) fail("persistent id: storage type is not a global");
    const StorageType* st = storage_type(it[1]->s);
    if (!st) fail("persistent id: '" + printable(it[1]->s) + "' is not a storage type");
    if (!st->dtype)
      fail("storage type " + it[1]->s + ": its dtype is not supported by mvc (supported: " + torch_names_list() + ")");
    if (it[2]->kind != Kind::string || it[3]->kind != Kind::string || it[4]->kind != Kind::integer || it[4]->i < 0)
      fail("persistent id: key and location must be strings, numel a non-negative integer");
    const std::string& key = it[2]->s;
    if (key.empty() || key.size() > 64) fail("storage key '" + printable(key) + "' is not a valid name");
    for (char c : key)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
        fail("storage key '" + printable(key) + "' is not a valid name (letters, digits, '_')");
    auto numel = static_cast<std::uint64_t>(it[4]->i);
    auto& slot = storages_[key];
    if (slot) {
      if (slot->dtype != *st->dtype || slot->numel != numel)
        fail("storage '" + key + "' is described twice differently");
    } else {
      slot = std::make_shared<const Storage>(Storage{key, *st->dtype, it[3]->s, numel});
    }
    auto v = make(Kind::storage);
    v->storage = slot;
    push(v);
  }

  static std::vector<std::int64_t> int_tuple(const Value& v, bool* ok) {
    std::vector<std::int64_t> out;
    if (v.kind != Kind::tuple) {
      *ok = false;
      return out;
    }
    for (const auto& x : v.items) {
      if (x->kind != Kind::integer) *ok = false;
      out.push_back(x->i);
    }
    return out;
  }

  static bool empty_hooks(const Value& v) {
    return v.kind == Kind::none || (v.kind == Kind::dict && v.entries.empty());
  }

  void reduce() {
    auto args = pop();
    auto fn = pop();
    if (fn->kind != Kind::global) fail("REDUCE on a " + fn->type_name() + ", not a global");
    if (args->kind != Kind::tuple) fail("REDUCE arguments are not a tuple");
    args->frozen = true;
    const auto& a = args->items;
    if (fn->s == kOrderedDict) {
      if (!a.empty()) fail("collections.OrderedDict with arguments is not supported");
      auto v = make(Kind::dict);
      v->ordered = true;
      push(v);
      return;
    }
    if (fn->s == kRebuildTensor) {
      if (a.size() < 6 || a.size() > 7)
        fail("_rebuild_tensor_v2 takes 6 or 7 arguments, got " + std::to_string(a.size()));
      if (a[0]->kind != Kind::storage) fail("_rebuild_tensor_v2: first argument is not a storage");
      if (a[1]->kind != Kind::integer || a[1]->i < 0)
        fail("_rebuild_tensor_v2: storage offset is not a non-negative integer");
      bool ok = true;
      auto t = std::make_shared<Tensor>();
      t->storage = a[0]->storage;
      t->storage_offset = static_cast<std::uint64_t>(a[1]->i);
      t->shape = int_tuple(*a[2], &ok);
      t->strides = int_tuple(*a[3], &ok);
      if (!ok) fail("_rebuild_tensor_v2: size and stride must be tuples of integers");
      if (t->shape.size() != t->strides.size()) fail("_rebuild_tensor_v2: size and stride differ in length");
      if (a[4]->kind != Kind::boolean) fail("_rebuild_tensor_v2: requires_grad is not a bool");
      t->requires_grad = a[4]->b;
      if (!empty_hooks(*a[5])) fail("_rebuild_tensor_v2: backward hooks are not supported");
      if (a.size() == 7 && !empty_hooks(*a[6])) fail("_rebuild_tensor_v2: tensor metadata is not supported");
      check_view(*t);
      auto v = make(Kind::tensor);
      v->tensor = std::move(t);
      push(v);
      return;
    }
    if (fn->s == kRebuildParameter || fn->s == kRebuildParameterWithState) {
      std::size_t want = fn->s == kRebuildParameter ? 3 : 4;
      if (a.size() != want)
        fail(fn->s + " takes " + std::to_string(want) + " arguments, got " + std::to_string(a.size()));
      if (a[0]->kind != Kind::tensor) fail(fn->s + ": data is not a tensor");
      if (a[1]->kind != Kind::boolean) fail(fn->s + ": requires_grad is not a bool");
      if (!empty_hooks(*a[2])) fail(fn->s + ": backward hooks are not supported");
      if (want == 4 && !empty_hooks(*a[3])) fail(fn->s + ": parameter state is not supported");
      auto t = std::make_shared<Tensor>(*a[0]->tensor);
      t->parameter = true;
      t->requires_grad = a[1]->b;
      auto v = make(Kind::tensor);
      v->tensor = std::move(t);
      push(v);
      return;
    }
    fail("global '" + fn->s + "' cannot be called");
  }

  /// Every element of the view lies inside the storage; strides are non-negative.
  void check_view(const Tensor& t) {
    std::uint64_t numel = 1;
    bool empty = false;
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (t.shape[i] < 0) fail("_rebuild_tensor_v2: negative size " + std::to_string(t.shape[i]));
      if (t.strides[i] < 0) fail("_rebuild_tensor_v2: negative stride " + std::to_string(t.strides[i]));
      if (t.shape[i] == 0) empty = true;
      if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(t.shape[i]), &numel))
        fail("_rebuild_tensor_v2: size overflows 64 bits");
    }
    if (__builtin_mul_overflow(numel, static_cast<std::uint64_t>(dtype_size(t.storage->dtype)), &numel))
      fail("_rebuild_tensor_v2: byte size overflows 64 bits");
    if (empty) return;
    std::uint64_t last = t.storage_offset;  // index of the last element reached
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      std::uint64_t span = 0;
      if (__builtin_mul_overflow(static_cast<std::uint64_t>(t.shape[i] - 1), static_cast<std::uint64_t>(t.strides[i]),
                                 &span) ||
          __builtin_add_overflow(last, span, &last))
        fail("_rebuild_tensor_v2: view extent overflows 64 bits");
    }
    if (last >= t.storage->numel)
      fail("_rebuild_tensor_v2: view reaches element " + std::to_string(last) + " of storage '" + t.storage->key +
           "', which has " + std::to_string(t.storage->numel));
  }

  void build() {
    auto state = pop();
    const Ref& obj = top();
    if (obj->kind == Kind::dict && obj->ordered && state->kind == Kind::dict) {
      if (obj->frozen) fail("BUILD changes a container already placed in another");
      for (auto& [k, v] : state->entries) {
        if (k->kind != Kind::string || k->s != "_metadata")
          fail("OrderedDict attribute '" + printable(k->kind == Kind::string ? k->s : k->type_name()) +
               "' is not supported (only _metadata)");
        adopt(*obj, v);
        obj->metadata = v;
      }
      return;
    }
    fail("BUILD (setting object state) on a " + obj->type_name() + " is not supported");
  }
};

}  // namespace

const Value* Value::get(std::string_view key) const {
  if (kind != Kind::dict) return nullptr;
  for (const auto& [k, v] : entries)
    if (k->kind == Kind::string && k->s == key) return v.get();
  return nullptr;
}

std::string Value::type_name() const {
  switch (kind) {
    case Kind::none:
      return "None";
    case Kind::boolean:
      return "bool";
    case Kind::integer:
      return "int";
    case Kind::floating:
      return "float";
    case Kind::string:
      return "str";
    case Kind::bytes:
      return "bytes";
    case Kind::tuple:
      return "tuple";
    case Kind::list:
      return "list";
    case Kind::dict:
      return ordered ? "OrderedDict" : "dict";
    case Kind::storage:
      return "storage";
    case Kind::tensor:
      return "tensor";
    case Kind::global:
      return "global " + s;
  }
  return "?";
}

Ref unpickle(std::string_view data, const std::string& what) {
  Unpickler u(data, what);
  return u.run();
}

}  // namespace mvc::weights::pickle
