// mvc public C++ API, LibTorch side: rebuild a model version from arch.toml in LibTorch and
// load its weights strictly. Link with libmvc_torch (and LibTorch). This header includes no
// torch header (they cost ~20 s per translation unit); include <torch/torch.h> yourself to
// call forward() or use module().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mvc/source.h"

namespace at {
class Tensor;
}
namespace torch::nn {
class Module;
}

namespace mvc {

/// A network rebuilt from its architecture, with weights loaded strictly, in eval mode.
class Model {
 public:
  /// Builds the module from the architecture and loads the weights strictly: every key of
  /// the module's state_dict present in the file, no extra key, same shape and dtype (or both
  /// floating point with `source.cast` naming the module's dtype; integer and bool tensors
  /// never change dtype). Peak memory is about the model's size: safetensors bytes are
  /// memory-mapped (used in place when aligned) and their pages released once copied; a
  /// checkpoint's storages are read one at a time. The module is built without running LibTorch's random initialisers
  /// (every value is then read from the file): the global RNG is not advanced.
  /// Throws mvc::Error(Exit::model) naming the file and every missing / unexpected key and
  /// every shape / dtype mismatch (and the --strip-prefix / --cast option that would fix
  /// it), or what is wrong with the file; mvc::Error(Exit::failure) on I/O errors.
  static Model load(const ModelSource& source);
  /// Builds the module only (parameters initialised as PyTorch initialises them).
  static Model build(const ModelSource& source);

  /// The root module; its named_parameters()/named_buffers() keys are exactly the keys the
  /// equivalent Python model's state_dict() has ("linear1.weight", ...).
  std::shared_ptr<torch::nn::Module> module() const;

  /// Runs the network on its single declared input (eval mode, no grad). Shape and dtype as
  /// declared in arch.toml's [inputs], e.g. float32 [batch, 10]. Returns the output tensor.
  at::Tensor forward(const at::Tensor& input) const;
  /// Runs the network as the module stands, for training loops: in its current mode (call
  /// module()->train() first) and with autograd recording. Same input rules as forward().
  at::Tensor forward_train(const at::Tensor& input) const;

  /// Runs the network in eval mode without grad on named inputs — exactly the inputs declared
  /// in arch.toml's [inputs], each with its declared dtype, rank and fixed sizes — and returns
  /// the graph outputs named as in arch.toml's `outputs` (default: the last layer's output).
  /// Throws mvc::Error(Exit::model) naming missing/unexpected inputs, a mismatching input, or
  /// the layer whose forward failed.
  std::vector<std::pair<std::string, at::Tensor>> run(
      const std::vector<std::pair<std::string, at::Tensor>>& inputs) const;

  /// Trainable parameters (buffers excluded), as PyTorch's sum(p.numel()).
  std::uint64_t parameter_count() const;

  /// The state_dict (parameters and buffers), keyed as PyTorch keys it, in module order.
  std::vector<std::pair<std::string, at::Tensor>> state_dict() const;

 private:
  struct Impl;  // src/model/internal.h
  explicit Model(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
  std::shared_ptr<Impl> impl_;
};

/// Writes a state_dict as a deterministic safetensors file (sorted keys; same tensors → same
/// bytes → same SHA-256). Tensors are made contiguous and moved to CPU. Throws mvc::Error.
void save_safetensors(const std::vector<std::pair<std::string, at::Tensor>>& state_dict,
                      const std::filesystem::path& path, const std::map<std::string, std::string>& metadata = {});
/// Writes a module's state_dict (parameters then buffers, as PyTorch keys them).
void save_safetensors(const torch::nn::Module& module, const std::filesystem::path& path);

/// Reads every tensor of a safetensors file (header validated, then each tensor read straight
/// into its memory), keyed by name, sorted.
/// Throws mvc::Error(Exit::model) "<path>: <why>".
std::vector<std::pair<std::string, at::Tensor>> load_safetensors(const std::filesystem::path& path);

/// Reads the state dict of a weights file of either format (safetensors or torch.save zip),
/// keyed by name (after `strip_prefix`), sorted. For a checkpoint, tensors keep their
/// checkpoint's strides and storage offsets, and tensors that shared a storage in Python share
/// one here (tied weights stay tied). `key`: the state dict's key in a wrapping checkpoint
/// ("" = find it; see weights/torch_zip.h). Throws mvc::Error(Exit::model) "<path>: <why>".
std::vector<std::pair<std::string, at::Tensor>> load_state_dict(const std::filesystem::path& path,
                                                                const std::string& key = {},
                                                                const std::string& strip_prefix = {});

}  // namespace mvc
