// mvc fsck [--remote NAME] [-j N] [--json]
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/command.h"
#include "cli/output.h"
#include "core/gc.h"
#include "mvc/error.h"

namespace mvc::cli {

void add_fsck(CLI::App& app, Context& ctx) {
  struct Opts {
    std::string remote;
    int jobs = 0;
    bool json = false;
  };
  auto opts = std::make_shared<Opts>();
  auto* cmd = app.add_subcommand(
      "fsck", "Re-hash every object (quarantine corrupt ones) and list pointers whose object is missing");
  cmd->add_option("-r,--remote", opts->remote, "Also re-hash every object on this remote");
  cmd->add_option("-j,--jobs", opts->jobs, "Hashing threads (default: every core)")->check(CLI::PositiveNumber);
  cmd->add_flag("--json", opts->json, "Machine-readable output (the exit code is the same)");
  cmd->callback([&ctx, opts] {
    ctx.action = [opts] {
      core::Workspace ws = core::Workspace::open(".");
      std::unique_ptr<store::Remote> remote;
      if (!opts->remote.empty()) remote = core::open_remote(ws, opts->remote);
      int jobs = opts->jobs ? opts->jobs : std::max(1u, std::thread::hardware_concurrency());
      ProgressDisplay progress("fsck");
      core::FsckResult r = core::fsck(ws, remote.get(), jobs, progress);
      progress.finish();
      if (opts->json) {
        using oj = nlohmann::ordered_json;
        oj out = {{"checked", r.checked},   {"manifests_checked", r.manifests_checked},
                  {"corrupt", oj::array()}, {"remote", nullptr},
                  {"missing", oj::array()}, {"wrong_size", oj::array()}};
        for (auto& c : r.corrupt)
          out["corrupt"].push_back({{"sha256", c.sha256}, {"got", c.got}, {"moved_to", c.moved_to}});
        if (remote) {
          oj rc = oj::array();
          for (auto& c : r.remote_corrupt) rc.push_back({{"sha256", c.sha256}, {"got", c.got}});
          oj ms = oj::array();
          for (auto& m : r.remote_missing_segments) ms.push_back({{"manifest", m.manifest}, {"segment", m.segment}});
          out["remote"] = {{"name", opts->remote},
                           {"checked", r.remote_checked},
                           {"corrupt", rc},
                           {"manifests_checked", r.remote_manifests_checked},
                           {"missing_segments", ms}};
        }
        for (auto& m : r.missing) out["missing"].push_back({{"sha256", m.sha256}, {"where", m.where}});
        for (auto& w : r.wrong_size)
          out["wrong_size"].push_back(
              {{"sha256", w.sha256}, {"where", w.where}, {"recorded", w.recorded}, {"actual", w.actual}});
        std::cout << out.dump(2, ' ', false, oj::error_handler_t::replace) << "\n";
      } else {  // text
        for (auto& c : r.corrupt)
          std::cout << "corrupt: object " << c.sha256 << " hashes to " << c.got << "; moved to " << c.moved_to << "\n";
        for (auto& c : r.remote_corrupt)
          std::cout << "corrupt: object " << c.sha256 << " on remote " << remote->describe() << " hashes to " << c.got
                    << "\n";
        for (auto& m : r.remote_missing_segments)
          std::cout << "missing: segment object " << m.segment << " of manifest " << m.manifest << " on remote "
                    << remote->describe() << "\n";
        for (auto& m : r.missing)
          std::cout << "missing: object " << m.sha256 << " (" << m.where << ") "
                    << (remote ? "is in neither the cache nor remote " + remote->describe()
                               : std::string("is not in the cache ('mvc fetch' brings it from a remote)"))
                    << "\n";
        for (auto& w : r.wrong_size)
          std::cout << "invalid: " << core::wrong_pointer_size(w.where, w.sha256, w.recorded, w.actual) << "\n";
        info() << "fsck: " << r.checked << " cache objects checked";
        if (r.manifests_checked) info() << " (and " << r.manifests_checked << " manifests)";
        info() << ", " << r.corrupt.size() << " corrupt";
        if (remote)
          info() << "; " << r.remote_checked << " remote objects checked"
                 << (r.remote_manifests_checked ? " (and " + std::to_string(r.remote_manifests_checked) + " manifests)"
                                                : std::string())
                 << ", " << r.remote_corrupt.size() << " corrupt";
        if (!r.remote_missing_segments.empty())
          info() << ", " << r.remote_missing_segments.size() << " segment(s) missing on the remote";
        info() << "; " << r.missing.size() << " missing";
        if (!r.wrong_size.empty()) info() << "; " << r.wrong_size.size() << " pointer(s) with a wrong size";
        info() << "\n";
      }
      if (!r.corrupt.empty() || !r.remote_corrupt.empty())
        throw Error(Exit::integrity, "fsck: " + std::to_string(r.corrupt.size() + r.remote_corrupt.size()) +
                                         " corrupt object(s) (first: " +
                                         (r.corrupt.empty() ? r.remote_corrupt[0].sha256 : r.corrupt[0].sha256) + ")");
      if (!r.remote_missing_segments.empty())
        throw Error(Exit::missing,
                    "fsck: remote " + remote->describe() + ": " + std::to_string(r.remote_missing_segments.size()) +
                        " segment object(s) that manifests name are missing (first: " +
                        r.remote_missing_segments[0].segment + " of " + r.remote_missing_segments[0].manifest + ")");
      if (!r.missing.empty())
        throw Error(Exit::missing, "fsck: " + std::to_string(r.missing.size()) +
                                       " referenced object(s) missing (first: " + r.missing[0].sha256 + ", " +
                                       r.missing[0].where + ")");
      if (!r.wrong_size.empty())
        throw Error(Exit::model,
                    "fsck: " + std::to_string(r.wrong_size.size()) +
                        " pointer(s) record a size that is not their object's (first: " + r.wrong_size[0].where + ")");
      return 0;
    };
  });
}

}  // namespace mvc::cli
