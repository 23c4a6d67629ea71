// mvc._core: the Python package's compiled part, over the torch-free core only (libmvc_core;
// never libmvc_torch, never a torch header: the user's Python has its own torch). It resolves "a
// model version at REV" through the one resolver of the CLI (core/model_version.h) and returns
// the expanded description of its architecture (arch/describe.h) and its verified weights file;
// it commits (core/commit.h) and lists versions (core/log.h) with the CLI's own functions.
// mvc::Error becomes mvc.Error (python/mvc/_errors.py) carrying the exit code.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <unistd.h>
#include <atomic>
#include <filesystem>
#include <string>

#include "arch/arch.h"
#include "arch/describe.h"
#include "arch/layer_types.h"
#include "core/commit.h"
#include "core/log.h"
#include "core/model_version.h"
#include "core/pointer_json.h"
#include "core/workspace.h"
#include "mvc/error.h"
#include "mvc/version.h"
#include "weights/convert.h"
#include "weights/dtype.h"
#include "weights/pickle.h"
#include "weights/safetensors.h"
#include "weights/torch_zip.h"

namespace py = pybind11;
namespace fs = std::filesystem;

namespace {

/// The nearest existing directory at or above `p` (where the repository is looked for).
fs::path existing_start(fs::path p) {
  std::error_code ec;
  while (!fs::exists(p, ec) && p.has_parent_path() && p != p.parent_path()) p = p.parent_path();
  return fs::is_directory(p, ec) ? p : p.parent_path();
}

/// A fresh path for a converted weights file, removed by the caller (python/mvc/__init__.py).
fs::path temp_weights_path() {
  static std::atomic<unsigned> n{0};
  return fs::temp_directory_path() /
         ("mvc-load-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ".safetensors");
}

/// A weights file after the first, of sharded weights: its path, how errors name it, whether
/// it is a conversion made here (deleted by the caller).
struct Shard {
  std::string path, name;
  bool temporary = false;
};

struct Resolved {
  std::string description, arch, hparams, weights, weights_name, cast, dir, commit, version;
  bool temporary = false;
  std::vector<Shard> shards;
};

/// The shards of `s` after the first (ModelSource::extra_weights), each a safetensors file to
/// read: a [load] strip_prefix is applied by mvc's converter into a temporary file, as for the
/// first file.
std::vector<Shard> shard_files(const mvc::ModelSource& s) {
  std::vector<Shard> out;
  for (std::size_t i = 0; i < s.extra_weights.size(); ++i) {
    Shard sh{s.extra_weights[i].string(), i < s.extra_weights_names.size() && !s.extra_weights_names[i].empty()
                                              ? s.extra_weights_names[i]
                                              : s.extra_weights[i].string()};
    if (!s.weights_key.empty() || !s.strip_prefix.empty()) {
      fs::path tmp = temp_weights_path();
      mvc::weights::StateDictOptions o;
      o.key = s.weights_key;
      o.strip_prefix = s.strip_prefix;
      mvc::weights::convert_to_safetensors(s.extra_weights[i], tmp, o);
      sh.path = tmp.string();
      sh.temporary = true;
    }
    out.push_back(std::move(sh));
  }
  return out;
}

Resolved resolve_impl(const std::string& path, const std::optional<std::string>& rev_opt) {
  std::string rev = rev_opt.value_or("");
  if (rev_opt && rev.empty()) throw mvc::Error(mvc::Exit::usage, "unknown revision ''");
  fs::path abs = fs::absolute(path);
  mvc::core::Workspace ws = mvc::core::Workspace::open(existing_start(abs));
  mvc::core::ModelVersion v = mvc::core::resolve_version(ws, rev, ws.git().rel(abs));
  auto a = mvc::arch::parse_architecture(v.arch_text, v.arch_name, v.hparams_text.value_or(""), v.hparams_name);
  Resolved r;
  r.description = mvc::arch::describe_json(a);
  r.arch = v.arch_text;
  r.hparams = v.hparams_text.value_or("");

  mvc::ModelSource s = mvc::core::model_source(ws, v);  // every shard: verified for a revision
  fs::path weights = s.weights;
  r.weights_name = s.weights_name.empty() ? ws.git().rel(weights) : s.weights_name;

  // A torch.save checkpoint, or a [load] key / prefix: converted by mvc's restricted reader
  // into a temporary safetensors file, so Python never unpickles.
  if (mvc::weights::detect_weights_format(weights) != mvc::weights::WeightsFormat::safetensors ||
      !s.weights_key.empty() || !s.strip_prefix.empty()) {
    fs::path tmp = temp_weights_path();
    mvc::weights::StateDictOptions o;
    o.key = s.weights_key;
    o.strip_prefix = s.strip_prefix;
    mvc::weights::convert_to_safetensors(weights, tmp, o);
    weights = tmp;
    r.temporary = true;
  }
  r.weights = weights.string();
  r.shards = shard_files(s);
  r.cast = s.cast;
  r.dir = v.dir;
  r.commit = v.commit;
  r.version = v.describe();
  return r;
}

/// Resolves the model directory `path` (absolute, or relative to the current directory) at
/// `rev` (None = the work tree). Returns a dict: description (JSON text, schema
/// mvc.expanded/1), arch and hparams (the arch.toml and
/// hparams.toml texts it was expanded from; "" for no hparams.toml), weights (a safetensors file to read), temporary
/// (True when `weights` is a conversion made here, which the caller deletes), weights_name (how errors name it), cast
/// (the pointer's [load] cast, "" = none), dir (repository-relative), commit ("" = work tree),
/// version (how messages name the version: "models/clf at v1"), shards (sharded weights: the
/// files after `weights`, each a dict path / name / temporary, [] for one file). Hashing a large weights file
/// takes time: other Python threads run meanwhile.
py::dict resolve(const std::string& path, const std::optional<std::string>& rev) {
  Resolved x;
  {
    py::gil_scoped_release release;
    x = resolve_impl(path, rev);
  }
  py::dict r;
  r["description"] = x.description;
  r["arch"] = x.arch;
  r["hparams"] = x.hparams;
  r["weights"] = x.weights;
  r["temporary"] = x.temporary;
  r["weights_name"] = x.weights_name;
  r["cast"] = x.cast;
  r["dir"] = x.dir;
  r["commit"] = x.commit;
  r["version"] = x.version;
  py::list shards;
  for (const auto& sh : x.shards) {
    py::dict d;
    d["path"] = sh.path;
    d["name"] = sh.name;
    d["temporary"] = sh.temporary;
    shards.append(d);
  }
  r["shards"] = shards;
  return r;
}

/// Resolves the optimizer state of the model directory `path` at `rev` (None = the work tree)
/// with the same resolver as resolve() (core::resolve_version). Returns a dict: state (a
/// safetensors file of the state's tensors, hash-verified for a revision; "" when the version
/// stores none), param_groups (optimizer.toml's text, None when absent), checkpoint (when the
/// version stores no optimizer state but its weights are a torch.save checkpoint committed with
/// a [load] key: that verified file, whose other keys may hold it; else ""), key (that [load]
/// key), version (how messages name it).
py::dict resolve_optimizer(const std::string& path, const std::optional<std::string>& rev_opt) {
  std::string state, checkpoint, key, version;
  std::optional<std::string> groups;
  {
    py::gil_scoped_release release;
    std::string rev = rev_opt.value_or("");
    if (rev_opt && rev.empty()) throw mvc::Error(mvc::Exit::usage, "unknown revision ''");
    fs::path abs = fs::absolute(path);
    mvc::core::Workspace ws = mvc::core::Workspace::open(existing_start(abs));
    mvc::core::ModelVersion v = mvc::core::resolve_version(ws, rev, ws.git().rel(abs));
    version = v.describe();
    groups = v.optimizer_text;
    if (v.in_work_tree()) {
      fs::path f = ws.root() / mvc::core::join(v.dir, mvc::core::kOptimizerStateFile);
      if (std::error_code ec; fs::is_regular_file(f, ec)) state = f.string();
    } else if (v.require_pointer().pointer.optimizer) {
      state = mvc::core::verified_optimizer_state(ws, v).string();
    } else if (v.pointer->pointer.kind == "torch-zip" && !v.pointer->pointer.load.key.empty() &&
               !v.pointer->pointer.sharded()) {
      checkpoint = mvc::core::verified_weights(ws, v).string();
      key = v.pointer->pointer.load.key;
    }
    if (state.empty() && checkpoint.empty())
      throw mvc::Error(mvc::Exit::model,
                       version + ": no optimizer state (" +
                           (v.in_work_tree() ? "no " + mvc::core::join(v.dir, mvc::core::kOptimizerStateFile)
                                             : v.pointer->display() + " records none") +
                           "; save it with mvc.save(..., optimizer=opt))");
    if (!state.empty() && !groups)
      throw mvc::Error(mvc::Exit::model, version + ": optimizer state without its " + v.optimizer_name);
  }
  py::dict r;
  r["state"] = state;
  r["param_groups"] = groups ? py::object(py::str(*groups)) : py::object(py::none());
  r["checkpoint"] = checkpoint;
  r["key"] = key;
  r["version"] = version;
  return r;
}

/// A torch.save checkpoint's objects as Python values, read by mvc's restricted unpickler
/// (weights/pickle.h: nothing is called, no global but a tensor's is accepted); tensors become
/// {"__mvc_tensor__": dtype code, "shape": [...], "data": bytes (C-contiguous)}.
class CheckpointReader {
 public:
  CheckpointReader(const fs::path& path, std::string what) : zip_(path), what_(std::move(what)) {
    for (const auto& [name, size] : zip_.entries()) {
      auto slash = name.find('/');
      if (slash != std::string::npos && name.substr(slash + 1) == "data.pkl") {
        prefix_ = name.substr(0, slash);
        if (size > mvc::weights::kMaxPickleSize) fail("data.pkl is too large");
        pkl_.resize(size);
        zip_.read(name, pkl_.data(), size);
      }
    }
    if (prefix_.empty()) fail("a zip archive without <dir>/data.pkl: not a torch.save checkpoint");
    root_ = mvc::weights::pickle::unpickle(pkl_, what_);
  }
  const mvc::weights::pickle::Value& root() const { return *root_; }

  py::object convert(const mvc::weights::pickle::Value& v) {
    using K = mvc::weights::pickle::Value::Kind;
    switch (v.kind) {
      case K::none:
        return py::none();
      case K::boolean:
        return py::bool_(v.b);
      case K::integer:
        return py::int_(v.i);
      case K::floating:
        return py::float_(v.f);
      case K::string:
        return py::str(v.s);
      case K::bytes:
        return py::bytes(v.s);
      case K::tuple:
      case K::list: {
        py::list l;
        for (const auto& x : v.items) l.append(convert(*x));
        return v.kind == K::tuple ? py::object(py::tuple(l)) : py::object(l);
      }
      case K::dict: {
        py::dict d;
        for (const auto& [k, x] : v.entries) d[convert(*k)] = convert(*x);
        return d;
      }
      case K::tensor:
        return tensor(*v.tensor);
      default:
        fail("holds a " + v.type_name() + ", which is not read");
        return py::none();
    }
  }

 private:
  [[noreturn]] void fail(const std::string& why) const { throw mvc::Error(mvc::Exit::model, what_ + ": " + why); }

  py::object tensor(const mvc::weights::pickle::Tensor& t) {
    mvc::weights::TorchTensorInfo info;
    info.dtype = t.storage->dtype;
    info.shape = t.shape;
    info.strides = t.strides;
    info.storage_offset = t.storage_offset;
    info.storage = t.storage->key;
    // Every element inside its storage (the view's last element at most numel - 1).
    std::uint64_t last = t.storage_offset;
    for (std::size_t i = 0; i < t.shape.size(); ++i) {
      if (t.shape[i] < 0 || t.strides[i] < 0) fail("a tensor with a negative size or stride");
      if (t.shape[i] == 0)
        last = 0;
      else
        last += static_cast<std::uint64_t>(t.shape[i] - 1) * static_cast<std::uint64_t>(t.strides[i]);
    }
    if (info.numel() > 0 && last >= t.storage->numel) fail("a tensor view beyond its storage");
    auto it = storages_.find(t.storage->key);
    if (it == storages_.end()) {
      const std::string entry = prefix_ + "/data/" + t.storage->key;
      const std::uint64_t n = t.storage->numel * mvc::weights::dtype_size(t.storage->dtype);
      std::string bytes(n, '\0');
      zip_.read(entry, bytes.data(), n);  // exactly n bytes, or Exit::model
      it = storages_.emplace(t.storage->key, std::move(bytes)).first;
    }
    py::dict d;
    d["__mvc_tensor__"] = std::string(mvc::weights::safetensors_name(info.dtype));
    d["shape"] = t.shape;
    d["data"] = py::bytes(info.numel() ? mvc::weights::gather_tensor_bytes(info, it->second) : std::string());
    return d;
  }

  mvc::weights::TorchZip zip_;
  std::string what_, prefix_, pkl_;
  mvc::weights::pickle::Ref root_;
  std::map<std::string, std::string> storages_;
};

/// The first of `keys` that the top-level dict of the torch.save checkpoint `path` has, and its
/// value as Python values (CheckpointReader); None when it has none of them. `what` names the
/// file in errors (Exit::model).
py::object checkpoint_entry(const std::string& path, const std::vector<std::string>& keys, const std::string& what) {
  CheckpointReader r(path, what);
  for (const auto& k : keys)
    if (const auto* v = r.root().get(k)) return py::make_tuple(k, r.convert(*v));
  return py::none();
}

/// The repository of the paths' first (the current directory's when there are none).
mvc::core::Workspace open_at(const std::vector<std::string>& paths) {
  return mvc::core::Workspace::open(paths.empty() ? fs::current_path() : existing_start(fs::absolute(paths.front())));
}

/// `mvc commit PATH... -m MESSAGE [--tag TAG] [--weights FILE] [--no-verify]`, in-process: the
/// same core::commit_models, so the same checks, hooks, messages and exit codes. Paths are
/// absolute or relative to the current directory, as the CLI's. No `--example`: it runs the
/// model with LibTorch, which this module never loads (python/mvc/__init__.py refuses it).
py::dict commit(const std::vector<std::string>& paths, const std::string& message, const std::string& tag,
                const std::string& weights, bool no_verify) {
  mvc::core::CommitResult r;
  {
    py::gil_scoped_release release;
    mvc::core::Workspace ws = open_at(paths);
    mvc::core::CommitRequest req;
    for (auto& p : paths) req.paths.emplace_back(p);
    req.message = message;
    req.tag = tag;
    req.weights = weights;
    req.no_verify = no_verify;
    r = mvc::core::commit_models(ws, req);
  }
  py::dict d;
  d["commit"] = r.commit ? py::object(py::str(*r.commit)) : py::object(py::none());
  d["short"] = r.commit ? py::object(py::str(r.commit->substr(0, 7))) : py::object(py::none());
  d["branch"] = r.branch;
  d["tag"] = r.tagged ? py::object(py::str(tag)) : py::object(py::none());
  py::list models;
  py::object loads = py::module_::import("json").attr("loads");
  for (auto& m : r.models) {
    const mvc::core::Pointer& p = m.pointer.pointer;
    py::dict md;
    md["path"] = m.dir;
    md["weights"] = loads(mvc::core::weights_record(p).dump());  // mvc log --json's "weights"
    md["stored"] = !m.object_existed;
    md["changed"] = m.changed;
    models.append(md);
  }
  d["models"] = models;
  return d;
}

/// `mvc log [PATH] --json`, in-process: the same JSON text (core::log_json), on one line.
std::string log_text(const std::optional<std::string>& path) {
  py::gil_scoped_release release;
  mvc::core::Workspace ws = open_at(path ? std::vector<std::string>{*path} : std::vector<std::string>{});
  std::optional<std::string> dir;
  if (path) dir = ws.git().rel(*path);
  return mvc::core::log_json(mvc::core::model_log(ws, dir), -1);
}

/// mvc's canonical safetensors writer (weights/safetensors.h), for mvc.save: `tensors` is a
/// list of (name, dtype, shape, data) with dtype a safetensors code ("F32", "I64", ...) and data
/// a buffer of the tensor's little-endian, C-contiguous bytes. The file is written atomically;
/// the same tensors give the same bytes as every other file mvc writes.
void write_safetensors(const std::string& path, const py::list& tensors) {
  std::vector<mvc::weights::TensorBytes> out;
  std::vector<py::buffer_info> keep;  // the buffers stay valid while the file is written
  out.reserve(tensors.size());
  keep.reserve(tensors.size());
  for (const auto& item : tensors) {
    auto t = item.cast<py::tuple>();
    if (t.size() != 4)
      throw mvc::Error(mvc::Exit::usage, "write_safetensors: each tensor is (name, dtype, shape, data)");
    mvc::weights::TensorBytes b;
    b.name = t[0].cast<std::string>();
    auto code = t[1].cast<std::string>();
    auto d = mvc::weights::dtype_from_safetensors(code);
    if (!d) throw mvc::Error(mvc::Exit::model, b.name + ": unknown safetensors dtype '" + code + "'");
    b.dtype = *d;
    b.shape = t[2].cast<std::vector<std::int64_t>>();
    keep.push_back(t[3].cast<py::buffer>().request());
    const py::buffer_info& info = keep.back();
    b.data = std::string_view(static_cast<const char*>(info.ptr), static_cast<std::size_t>(info.size * info.itemsize));
    out.push_back(std::move(b));
  }
  py::gil_scoped_release release;
  mvc::weights::write_safetensors(path, std::move(out));
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "mvc's torch-free core: versions resolved as the CLI resolves them";
  m.attr("__version__") = MVC_VERSION_STRING;
  m.attr("EXPANDED_SCHEMA") = mvc::arch::kExpandedSchema;

  // mvc::Error → mvc.Error(message, exit_code); any other C++ exception → mvc.Error with
  // exit code 1 (the CLI's "any other failure").
  // Local: only exceptions leaving this module's functions. A global translator would also see
  // torch's own C++ exceptions (c10::Error is a std::exception) and turn them into mvc.Error.
  py::register_local_exception_translator([](std::exception_ptr p) {
    auto raise = [](const char* what, int code) {
      py::object cls = py::module_::import("mvc._errors").attr("Error");
      py::object e = cls(std::string(what), code);
      PyErr_SetObject(cls.ptr(), e.ptr());
    };
    try {
      if (p) std::rethrow_exception(p);
    } catch (const mvc::Error& e) {
      raise(e.what(), e.exit_code());
    } catch (const py::error_already_set&) {
      throw;
    } catch (const py::builtin_exception&) {
      throw;
    } catch (const std::exception& e) {
      raise(e.what(), 1);
    }
  });

  m.def("resolve", &resolve, py::arg("path"), py::arg("rev") = py::none(),
        "Resolves a model directory at a revision (None: the work tree): its expanded description "
        "and its verified weights file.");
  m.def("resolve_optimizer", &resolve_optimizer, py::arg("path"), py::arg("rev") = py::none(),
        "Resolves the optimizer state of a model directory at a revision (None: the work tree), "
        "hash-verified: its tensors file and optimizer.toml's text.");
  m.def("checkpoint_entry", &checkpoint_entry, py::arg("path"), py::arg("keys"), py::arg("what"),
        "(key, value) of the first of keys in a torch.save checkpoint's top-level dict, read by mvc's "
        "restricted unpickler (tensors as {'__mvc_tensor__': dtype, 'shape', 'data'}); None if absent.");
  m.def("commit", &commit, py::arg("paths"), py::arg("message"), py::arg("tag") = "", py::arg("weights") = "",
        py::arg("no_verify") = false,
        "Commits model directories as mvc commit does; returns the commit id, branch, tag and each "
        "model's weights record.");
  m.def("log", &log_text, py::arg("path") = py::none(),
        "The JSON text of mvc log [PATH] --json (None: every model at HEAD), on one line.");
  m.def("write_safetensors", &write_safetensors, py::arg("path"), py::arg("tensors"),
        "Writes a safetensors file with mvc's canonical writer: tensors is a list of (name, "
        "safetensors dtype code, shape, buffer of the raw bytes).");
  m.def(
      "layer_types",
      [] {
        py::list r;
        for (const auto& t : mvc::arch::detail::layer_types()) {
          py::dict d;
          d["name"] = t.name;
          d["family"] = t.family;
          d["module"] = !t.is_op;
          r.append(d);
        }
        return r;
      },
      "The layer types of the architecture language (name, family, module: registers a module).");
  m.def(
      "describe",
      [](const std::string& arch_toml, const std::string& hparams_toml, const std::string& arch_name) {
        auto a = mvc::arch::parse_architecture(arch_toml, arch_name, hparams_toml, "hparams.toml");
        return mvc::arch::describe_json(a);
      },
      py::arg("arch_toml"), py::arg("hparams_toml") = "", py::arg("arch_name") = "arch.toml",
      "The expanded description (JSON text, schema mvc.expanded/1) of an arch.toml text.");
}
