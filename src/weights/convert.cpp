#include "weights/convert.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "mvc/error.h"
#include "util/fs.h"
#include "weights/safetensors.h"

namespace mvc::weights {

ConvertResult convert_to_safetensors(const std::filesystem::path& src, const std::filesystem::path& dst,
                                     const StateDictOptions& opts) {
  const std::string what = src.string();
  ConvertResult r;
  std::vector<std::string> data;  // the tensors' contiguous bytes, kept until written
  std::vector<TensorBytes> out;
  auto format = detect_weights_format(src);
  if (format == WeightsFormat::safetensors || format == WeightsFormat::unknown) {
    if (!opts.key.empty())
      throw Error(Exit::model,
                  what + ": --key applies to torch.save checkpoints; a safetensors file holds one state dict");
    SafetensorsHeader h = read_safetensors_header(src);
    std::string bytes = util::read_file(src);
    if (bytes.size() != h.file_size) throw Error(Exit::failure, what + ": file changed while being read");
    std::set<std::string> names;
    data.reserve(h.tensors.size());
    for (const auto& t : h.tensors) {
      std::string name = t.name;
      if (!opts.strip_prefix.empty() && name.rfind(opts.strip_prefix, 0) == 0 && name.size() > opts.strip_prefix.size())
        name.erase(0, opts.strip_prefix.size());
      if (!names.insert(name).second)
        throw Error(Exit::model,
                    what + ": tensor '" + name + "' appears twice after stripping '" + opts.strip_prefix + "'");
      data.push_back(
          bytes.substr(static_cast<std::size_t>(h.data_offset + t.begin), static_cast<std::size_t>(t.end - t.begin)));
      out.push_back({name, t.dtype, t.shape, data.back()});
      r.elements += t.numel();
    }
  } else {
    TorchCheckpoint c = read_torch_checkpoint(src, opts, what);
    r.key = c.key;
    TorchZip zip(src);
    // One storage in memory at a time besides the gathered tensors.
    std::map<std::string, std::vector<const TorchTensorInfo*>> by_storage;
    for (const auto& t : c.tensors) by_storage[t.storage].push_back(&t);
    std::map<std::string, std::string> gathered;
    for (const auto& [key, list] : by_storage) {
      std::string storage = zip.read_storage(c.storages.at(key));
      for (const TorchTensorInfo* t : list) gathered[t->name] = gather_tensor_bytes(*t, storage);
    }
    data.reserve(c.tensors.size());
    for (const auto& t : c.tensors) {
      data.push_back(std::move(gathered.at(t.name)));
      out.push_back({t.name, t.dtype, t.shape, data.back()});
      r.elements += t.numel();
    }
  }
  r.tensors = out.size();
  write_safetensors(dst, std::move(out));
  return r;
}

}  // namespace mvc::weights
