#include "core/pointer_json.h"

namespace mvc::core {

nlohmann::ordered_json weights_record(const Pointer& p) {
  nlohmann::ordered_json files = nlohmann::ordered_json::array();
  for (const auto& f : p.files())
    files.push_back(
        {{"path", f.path}, {"kind", f.kind}, {"size", f.size}, {"tensors", f.tensors}, {"sha256", f.sha256}});
  return {{"path", p.path},
          {"sha256", p.sha256},
          {"size", p.total_size()},
          {"kind", p.kind},
          {"tensors", p.tensors},
          {"parameters", p.parameters},
          {"digest", p.weights_digest()},
          {"files", std::move(files)}};
}

}  // namespace mvc::core
