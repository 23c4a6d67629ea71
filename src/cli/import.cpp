// mvc import SRC --to DST.safetensors [--key K] [--strip-prefix P]: convert a checkpoint into
// canonical safetensors (torch-free).
#include <iostream>

#include "cli/command.h"
#include "cli/format.h"
#include "cli/output.h"
#include "core/model_check.h"
#include "mvc/error.h"
#include "util/sha256.h"
#include "weights/convert.h"

namespace mvc::cli {

void add_import(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string src, dst, key, strip_prefix;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand("import", "Convert a torch.save checkpoint (.pt/.pth) into canonical safetensors");
  cmd->add_option("src", opts->src, "The checkpoint (or a safetensors file)")->required();
  cmd->add_option("--to", opts->dst, "The safetensors file to write")->required();
  cmd->add_option("--key", opts->key, "The state dict's key inside a wrapping checkpoint ({'model_state_dict': ...})");
  cmd->add_option("--strip-prefix", opts->strip_prefix,
                  "Remove this prefix from the names ('module.' of DataParallel, '_orig_mod.' of torch.compile)");
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      std::filesystem::path src(opts->src), dst(opts->dst);
      std::error_code ec;
      if (std::filesystem::equivalent(src, dst, ec))
        throw Error(Exit::usage, opts->dst + ": --to names the source file itself");
      weights::ConvertResult r = weights::convert_to_safetensors(src, dst, {opts->key, opts->strip_prefix});
      std::uint64_t size = 0;
      std::string sha = util::sha256_file(dst, &size);
      info() << "imported " << r.tensors << " tensors (" << group_digits(r.elements) << " elements) from " << opts->src
             << (r.key.empty() ? "" : " (state dict '" + r.key + "')") << "\n"
             << "  " << opts->dst << " sha256:" << short_sha(sha) << " " << core::human_bytes(size) << "\n";
      return 0;
    };
  });
}

}  // namespace mvc::cli
