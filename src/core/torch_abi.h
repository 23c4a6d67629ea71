// The private C ABI between the torch-free `mvc` binary (core/torch_bridge.cpp) and
// libmvc_torch (model/bridge.cpp), which the binary opens with dlopen only when a module must
// be built, so that it never links LibTorch (docs/conventions.md, "LibTorch only where a
// module is built"). Not part of the public API.
//
// `request_json` is a JSON object naming a model version the way mvc::ModelSource does:
//   {"op": "load_check" | "run", "arch": "<arch.toml text>", "arch_name": "...",
//    "hparams": "<hparams.toml text>", "hparams_name": "...", "weights": "<path>",
//    "weights_name": "<name used in errors>", "key": "", "strip_prefix": "", "cast": "",
//    "input": "<path>", "output": "<path>"}            (input/output: "run" only)
// The reply is a malloc'd JSON string, freed with mvc_torch_free:
//   {"ok": true, "parameters": N, "tensors": N}                        (load_check)
//   {"ok": true, "outputs": [{"name", "shape", "dtype"}, ...]}          (run)
//   {"ok": false, "exit": <code from mvc::Exit>, "error": "<one line>"}
#pragma once

extern "C" {
char* mvc_torch_call(const char* request_json);
void mvc_torch_free(char* response);
}
