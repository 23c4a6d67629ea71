#include "core/torch_bridge.h"

#include <dlfcn.h>

#include <nlohmann/json.hpp>

#include "core/torch_abi.h"
#include "mvc/error.h"

namespace mvc::core {

namespace {

using CallFn = decltype(&mvc_torch_call);
using FreeFn = decltype(&mvc_torch_free);

struct Lib {
  CallFn call = nullptr;
  FreeFn free = nullptr;
};

std::filesystem::path self_dir() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&self_dir), &info) && info.dli_fname)
    return std::filesystem::path(info.dli_fname).parent_path();
  return {};
}

const Lib& library() {
  static Lib lib = [] {
    std::string path;
    if (const char* env = std::getenv("MVC_TORCH_LIBRARY"); env && *env)
      path = env;
    else
      path = (self_dir() / MVC_TORCH_LIBRARY_NAME).string();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      throw Error(Exit::failure, std::string("cannot load the LibTorch side (") + path + "): " +
                                     (e ? e : "unknown error") + "; use --no-load to skip rebuilding the model");
    }
    Lib l;
    l.call = reinterpret_cast<CallFn>(dlsym(h, "mvc_torch_call"));
    l.free = reinterpret_cast<FreeFn>(dlsym(h, "mvc_torch_free"));
    if (!l.call || !l.free) throw Error(Exit::failure, path + ": missing mvc_torch_call entry point");
    return l;
  }();
  return lib;
}

}  // namespace

namespace {

nlohmann::json call(const nlohmann::json& req) {
  const Lib& lib = library();
  std::string r = req.dump();
  char* resp = lib.call(r.c_str());
  if (!resp) throw Error(Exit::failure, "LibTorch side returned no answer");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(resp);
  } catch (...) {
    lib.free(resp);
    throw Error(Exit::failure, "LibTorch side returned an invalid answer");
  }
  lib.free(resp);
  if (!j.value("ok", false)) {
    int code = j.value("exit", 1);
    throw Error(static_cast<Exit>(code), j.value("error", std::string("model load failed")));
  }
  return j;
}

nlohmann::json request(const char* op, const ModelSource& s) {
  nlohmann::json extra = nlohmann::json::array(), extra_names = nlohmann::json::array();
  for (std::size_t i = 0; i < s.extra_weights.size(); ++i) {
    extra.push_back(s.extra_weights[i].string());
    extra_names.push_back(i < s.extra_weights_names.size() ? s.extra_weights_names[i] : std::string());
  }
  return {{"op", op},
          {"extra_weights", extra},
          {"extra_weights_names", extra_names},
          {"arch", s.arch_toml},
          {"arch_name", s.arch_name},
          {"hparams", s.hparams_toml},
          {"hparams_name", s.hparams_name},
          {"weights", s.weights.string()},
          {"weights_name", s.weights_display()},
          {"key", s.weights_key},
          {"strip_prefix", s.strip_prefix},
          {"cast", s.cast}};
}

}  // namespace

ModelSource with_load(ModelSource source, const LoadOptions& load) {
  source.weights_key = load.key;
  source.strip_prefix = load.strip_prefix;
  source.cast = load.cast;
  return source;
}

LoadCheck torch_load_check(const ModelSource& source) {
  nlohmann::json j = call(request("load_check", source));
  LoadCheck out;
  out.parameters = j.value("parameters", std::uint64_t{0});
  out.tensors = j.value("tensors", std::uint64_t{0});
  return out;
}

std::vector<RunOutput> torch_run(const ModelSource& source, const std::filesystem::path& input,
                                 const std::filesystem::path& output) {
  nlohmann::json req = request("run", source);
  req["input"] = input.string();
  req["output"] = output.string();
  nlohmann::json j = call(req);
  std::vector<RunOutput> out;
  for (const auto& o : j.at("outputs"))
    out.push_back({o.at("name").get<std::string>(), o.at("shape").get<std::vector<std::int64_t>>(),
                   o.at("dtype").get<std::string>()});
  return out;
}

}  // namespace mvc::core
