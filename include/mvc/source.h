// mvc public C++ API, torch-free: what a model version is made of (mvc::ModelSource). Returned
// by mvc::Repository::source (mvc/repository.h) and taken by mvc::Model::load (mvc/model.h, the
// LibTorch side). Link with mvc::core.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace mvc {

/// What a model version is made of. The TOML texts are given as text (they may come from a
/// git tree at any revision); the weights from a file.
struct ModelSource {
  std::string arch_toml;                ///< text of arch.toml
  std::string arch_name = "arch.toml";  ///< names the file in errors
  std::string hparams_toml;             ///< text of hparams.toml ("" when there is none)
  std::string hparams_name = "hparams.toml";
  /// The weights: a safetensors file or a torch.save zip checkpoint (.pt/.pth, read by mvc's
  /// restricted unpickler), told apart by their bytes.
  std::filesystem::path weights;
  /// How errors name the weights ("models/clf/weights.safetensors" when `weights` is a
  /// verified cache object or temp copy); "" = `weights` itself.
  std::string weights_name;
  /// Sharded weights (docs/repository-format.md, "Weights files"): the files after the first
  /// (`weights`), read with it as one state dict; empty for weights in one file.
  std::vector<std::filesystem::path> extra_weights;
  /// How errors name each of `extra_weights` (same order; "" = the path itself).
  std::vector<std::string> extra_weights_names;
  /// How the weights map onto the architecture (the pointer's [load] table,
  /// docs/repository-format.md, "Pointer file"):
  std::string weights_key;   ///< the state dict's key in a wrapping checkpoint ("" = the file is one, or mvc finds it)
  std::string strip_prefix;  ///< removed from the start of the weights' names ("module.", "_orig_mod.")
  std::string cast;          ///< floating-point weights are converted to this dtype ("float32"; "" = never)

  /// The name errors use for the weights: `weights_name`, else `weights`.
  std::string weights_display() const { return weights_name.empty() ? weights.string() : weights_name; }

  /// Reads `<dir>/arch.toml`, `<dir>/hparams.toml` (if present) and takes `weights_file` as
  /// the weights when given, else `<dir>/weights.safetensors`, else the only `*.safetensors`,
  /// `*.pt` or `*.pth` file of `<dir>` (as mvc commit chooses). Torch-free.
  /// Throws mvc::Error: Exit::usage "<dir>: not a model directory (no arch.toml)",
  /// Exit::model "no weights file", Exit::usage "several weights files".
  static ModelSource from_directory(const std::filesystem::path& dir, const std::filesystem::path& weights_file = {});
};

}  // namespace mvc
