// The extern "C" entry point that the torch-free `mvc` binary calls after dlopen (the private
// ABI of core/torch_abi.h). JSON in, malloc'd JSON out; no exception ever crosses this
// boundary. No torch header.
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

#include <nlohmann/json.hpp>

#include "core/torch_abi.h"
#include "model/check.h"
#include "mvc/error.h"
#include "mvc/model.h"

namespace {

using nlohmann::json;

std::string str_field(const json& req, const char* key, const std::string& def, bool required) {
  auto it = req.find(key);
  if (it == req.end() || it->is_null()) {
    if (required) throw mvc::Error(mvc::Exit::failure, std::string("mvc_torch_call: missing field '") + key + "'");
    return def;
  }
  if (!it->is_string())
    throw mvc::Error(mvc::Exit::failure, std::string("mvc_torch_call: field '") + key + "' is not a string");
  return it->get<std::string>();
}

json handle(const char* request_json) {
  if (!request_json) throw mvc::Error(mvc::Exit::failure, "mvc_torch_call: null request");
  json req = json::parse(request_json);
  if (!req.is_object()) throw mvc::Error(mvc::Exit::failure, "mvc_torch_call: the request is not a JSON object");
  std::string op = str_field(req, "op", "", true);
  // Both ops name a model version the same way: arch/hparams text, weights, [load] options.
  mvc::ModelSource src;
  if (op == "load_check" || op == "run") {
    src.arch_toml = str_field(req, "arch", "", true);
    src.arch_name = str_field(req, "arch_name", "arch.toml", false);
    src.hparams_toml = str_field(req, "hparams", "", false);
    src.hparams_name = str_field(req, "hparams_name", "hparams.toml", false);
    src.weights = str_field(req, "weights", "", true);
    src.weights_name = str_field(req, "weights_name", "", false);
    src.weights_key = str_field(req, "key", "", false);
    src.strip_prefix = str_field(req, "strip_prefix", "", false);
    src.cast = str_field(req, "cast", "", false);
    // Sharded weights: the files after the first (optional: an older binary sends none).
    if (auto it = req.find("extra_weights"); it != req.end() && it->is_array())
      for (const auto& p : *it)
        if (p.is_string()) src.extra_weights.emplace_back(p.get<std::string>());
    if (auto it = req.find("extra_weights_names"); it != req.end() && it->is_array())
      for (const auto& p : *it) src.extra_weights_names.push_back(p.is_string() ? p.get<std::string>() : "");
  }
  if (op == "load_check") {
    auto c = mvc::model::load_check(src);
    return json{{"ok", true}, {"parameters", c.parameters}, {"tensors", c.tensors}};
  }
  if (op == "run") {
    auto outs = mvc::model::run_files(src, str_field(req, "input", "", true), str_field(req, "output", "", true));
    json list = json::array();
    for (const auto& o : outs) list.push_back(json{{"name", o.name}, {"shape", o.shape}, {"dtype", o.dtype}});
    return json{{"ok", true}, {"outputs", list}};
  }
  throw mvc::Error(mvc::Exit::failure, "mvc_torch_call: unknown op '" + op + "' (known: load_check, run)");
}

json error_reply(int code, const std::string& message) {
  return json{{"ok", false}, {"exit", code}, {"error", message}};
}

char* to_c(const json& reply) {
  // Invalid UTF-8 in a message (a file name, say) is replaced rather than thrown on.
  std::string s = reply.dump(-1, ' ', false, json::error_handler_t::replace);
  char* out = static_cast<char*>(std::malloc(s.size() + 1));
  if (out) std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

}  // namespace

extern "C" char* mvc_torch_call(const char* request_json) {
  try {
    json reply;
    try {
      reply = handle(request_json);
    } catch (const mvc::Error& e) {
      reply = error_reply(e.exit_code(), e.what());
    } catch (const json::exception& e) {
      reply = error_reply(1, std::string("mvc_torch_call: bad request: ") + e.what());
    } catch (const std::exception& e) {
      std::string m = e.what();  // one line: c10::Error appends a backtrace
      reply = error_reply(1, m.substr(0, m.find('\n')));
    } catch (...) {
      reply = error_reply(1, "mvc_torch_call: unknown exception");
    }
    return to_c(reply);
  } catch (...) {
    return nullptr;  // out of memory while replying
  }
}

extern "C" void mvc_torch_free(char* response) { std::free(response); }
