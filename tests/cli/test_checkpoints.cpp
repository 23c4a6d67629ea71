// torch.save checkpoints through the real binary: commit (with --key, --strip-prefix, --cast
// recorded in the pointer's [load] table), checkout loading them as recorded, import, and
// malicious or unreadable files refused without running anything.
#include "cli/cli_support.h"

using namespace mvc::test;

namespace {

fs::path ckpt(const std::string& name) { return fixture_dir() / "ckpt" / name; }

/// Copies checkpoint model `name` (arch.toml, hparams.toml, weights.pt) into models/clf.
void put_ckpt(const Repo& repo, const std::string& name) {
  fs::create_directories(repo / "models/clf");
  for (auto& e : fs::directory_iterator(ckpt(name)))
    fs::copy_file(e.path(), repo / "models/clf" / e.path().filename(), fs::copy_options::overwrite_existing);
}

std::string pointer(const Repo& repo) { return read_file(repo / "models/clf/weights.pt.mvc"); }

bool contains(const std::string& s, const std::string& x) { return s.find(x) != std::string::npos; }

}  // namespace

TEST_CASE("commit a plain torch.save checkpoint, checkout restores and loads it", "[cli][torch-zip]") {
  Repo repo;
  put_ckpt(repo, "pt_plain");
  RunResult r = run_mvc({"commit", "models/clf", "-m", "pt"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "weights.pt sha256:"));
  CHECK(contains(r.out, "4 tensors, 241 parameters"));
  std::string p = pointer(repo);
  CHECK(contains(p, "kind = \"torch-zip\""));
  CHECK(contains(p, "path = \"weights.pt\""));
  CHECK_FALSE(contains(p, "[load]"));
  CHECK(git({"ls-files"}, repo.root).out.find("weights.pt\n") == std::string::npos);  // only the pointer
  CHECK(contains(git({"ls-files"}, repo.root).out, "models/clf/weights.pt.mvc"));

  fs::remove(repo / "models/clf/weights.pt");
  r = run_mvc({"checkout"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo / "models/clf/weights.pt") == read_file(ckpt("pt_plain/weights.pt")));
  CHECK(contains(r.out, "rebuilt and loaded strictly (241 parameters)"));
}

TEST_CASE("commit finds the state dict of a wrapped checkpoint and records the key", "[cli][torch-zip]") {
  Repo repo;
  put_ckpt(repo, "pt_wrapped");
  RunResult r = run_mvc({"commit", "models/clf", "-m", "wrapped"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(pointer(repo), "[load]\nkey = \"model_state_dict\"\n"));
  r = run_mvc({"checkout", "HEAD", "--", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "loaded strictly (241 parameters)"));
}

TEST_CASE("an ambiguous checkpoint asks for --key, --key is recorded and used", "[cli][torch-zip]") {
  Repo repo;
  put_ckpt(repo, "pt_ambiguous");
  auto before = snapshot(repo.root);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "amb"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(contains(r.err,
                 "mvc: error: models/clf/weights.pt: the checkpoint holds several state dicts ('student', 'teacher')"));
  CHECK(contains(r.err, "top-level keys: 'student', 'teacher', 'step'"));
  CHECK(contains(r.err, "--key KEY"));
  CHECK(snapshot(repo.root) == before);
  r = run_mvc({"commit", "models/clf", "-m", "amb", "--key", "teacher"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(pointer(repo), "key = \"teacher\""));
  r = run_mvc({"commit", "models/clf", "-m", "amb", "--key", "nope"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(contains(r.err, "no key 'nope' in the checkpoint"));
}

TEST_CASE("DataParallel and torch.compile prefixes: the error names --strip-prefix, which is recorded",
          "[cli][torch-zip]") {
  for (auto [fixture, prefix] : {std::pair{"pt_dp", "module."}, std::pair{"pt_compiled", "_orig_mod."}}) {
    INFO(fixture);
    Repo repo;
    put_ckpt(repo, fixture);
    auto before = snapshot(repo.root);
    RunResult r = run_mvc({"commit", "models/clf", "-m", "dp"}, repo.root);
    CHECK(r.exit_code == 7);
    CHECK(contains(r.err, "does not fit models/clf/arch.toml: missing tensor 'linear1.weight'"));
    CHECK(contains(r.err, std::string("commit with --strip-prefix ") + prefix));
    CHECK(snapshot(repo.root) == before);
    r = run_mvc({"commit", "models/clf", "-m", "dp", "--strip-prefix", prefix}, repo.root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(contains(pointer(repo), std::string("strip_prefix = \"") + prefix + "\""));
    // A later commit of the same file keeps the recorded option without being told again.
    write_file(repo / "models/clf/metrics.toml", "acc = 0.5\n");
    r = run_mvc({"commit", "models/clf", "-m", "metrics"}, repo.root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(contains(pointer(repo), std::string("strip_prefix = \"") + prefix + "\""));
    r = run_mvc({"checkout", "HEAD", "--", "models/clf"}, repo.root);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(contains(r.out, "loaded strictly (241 parameters)"));
  }
}

TEST_CASE("float16 weights into a float32 architecture need --cast, which is recorded and used", "[cli][torch-zip]") {
  Repo repo;
  put_ckpt(repo, "pt_fp16");
  RunResult r = run_mvc({"commit", "models/clf", "-m", "half"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(contains(r.err, "tensor 'linear1.weight': dtype float16, expected float32"));
  CHECK(contains(r.err, "or commit with --cast float32"));
  r = run_mvc({"commit", "models/clf", "-m", "half", "--cast", "int64"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(contains(r.err, "cast 'int64' is not a floating-point dtype"));
  r = run_mvc({"commit", "models/clf", "-m", "half", "--cast", "float"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(pointer(repo), "cast = \"float32\""));
  r = run_mvc({"checkout", "HEAD", "--", "models/clf"}, repo.root);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "loaded strictly (241 parameters)"));
}

TEST_CASE("legacy and TorchScript files are refused at commit with how to re-save them", "[cli][torch-zip]") {
  Repo repo;
  put_ckpt(repo, "pt_plain");
  fs::copy_file(ckpt("legacy.pt"), repo / "models/clf/weights.pt", fs::copy_options::overwrite_existing);
  RunResult r = run_mvc({"commit", "models/clf", "-m", "legacy"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(contains(r.err, "models/clf/weights.pt: a legacy torch.save file (PyTorch < 1.6, not a zip archive); re-save"));
  fs::copy_file(ckpt("torchscript.pt"), repo / "models/clf/weights.pt", fs::copy_options::overwrite_existing);
  r = run_mvc({"commit", "models/clf", "-m", "ts"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(contains(r.err, "a TorchScript archive (torch.jit.save)"));
  CHECK(repo.commit_count() == 0);
}

TEST_CASE("a checkpoint whose pickle would run os.system or exec runs nothing", "[cli][torch-zip][security]") {
  for (const char* evil : {"evil_system.pt", "evil_exec.pt"}) {
    INFO(evil);
    // The fixture is really malicious: Python's torch.load runs it (in a scratch directory).
    TempDir py;
    RunResult p = run({MVC_PYTHON, "-c", "import torch,sys; torch.load(sys.argv[1])", ckpt(evil).string()}, py.path());
    REQUIRE(fs::exists(py / "evil_marker"));

    Repo repo;
    put_ckpt(repo, "pt_plain");
    fs::copy_file(ckpt(evil), repo / "models/clf/weights.pt", fs::copy_options::overwrite_existing);
    RunResult r = run_mvc({"commit", ".", "-m", "evil"}, repo / "models/clf");
    CHECK(r.exit_code == 7);
    CHECK(contains(r.err, std::string("global '") +
                              (evil == std::string("evil_system.pt") ? "posix.system" : "__builtin__.exec") +
                              "' is not allowed in a weights file"));
    r = run_mvc({"import", "weights.pt", "--to", "out.safetensors"}, repo / "models/clf");
    CHECK(r.exit_code == 7);
    CHECK_FALSE(fs::exists(repo / "models/clf/out.safetensors"));
    CHECK_FALSE(fs::exists(repo / "models/clf/evil_marker"));
    CHECK_FALSE(fs::exists(repo / "evil_marker"));
    CHECK(repo.commit_count() == 0);
  }
}

TEST_CASE("import converts checkpoints into canonical safetensors, deterministically", "[cli][import]") {
  TempDir tmp;
  RunResult r = run_mvc({"import", ckpt("pt_wrapped/weights.pt").string(), "--to", "a.safetensors"}, tmp.path());
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "imported 4 tensors (241 elements)"));
  CHECK(contains(r.out, "(state dict 'model_state_dict')"));
  CHECK(read_file(tmp / "a.safetensors") == read_file(ckpt("pt_wrapped.expected.safetensors")));
  r = run_mvc({"import", ckpt("pt_dp/weights.pt").string(), "--to", "b.safetensors", "--strip-prefix", "module."},
              tmp.path());
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(tmp / "b.safetensors") == read_file(ckpt("pt_dp.expected.safetensors")));
  r = run_mvc({"import", ckpt("zoo.pt").string(), "--to", "zoo.safetensors"}, tmp.path());
  REQUIRE(r.exit_code == 0);
  r = run_mvc({"import", ckpt("zoo.pt").string(), "--to", "zoo2.safetensors"}, tmp.path());
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(tmp / "zoo.safetensors") == read_file(tmp / "zoo2.safetensors"));
  CHECK(run({"sha256sum", "zoo.safetensors"}, tmp.path()).out.substr(0, 64) ==
        run({"sha256sum", "zoo2.safetensors"}, tmp.path()).out.substr(0, 64));

  r = run_mvc({"import", ckpt("pt_ambiguous/weights.pt").string(), "--to", "c.safetensors"}, tmp.path());
  CHECK(r.exit_code == 7);
  CHECK(contains(r.err, "--key KEY"));
  CHECK_FALSE(fs::exists(tmp / "c.safetensors"));
  r = run_mvc({"import", ckpt("pt_ambiguous/weights.pt").string(), "--to", "c.safetensors", "--key", "student"},
              tmp.path());
  CHECK(r.exit_code == 0);
  CHECK(read_file(tmp / "c.safetensors") == read_file(ckpt("pt_plain.expected.safetensors")));
  r = run_mvc({"import", "missing.pt", "--to", "d.safetensors"}, tmp.path());
  CHECK(r.exit_code == 1);
  r = run_mvc({"import", ckpt("zoo.pt").string()}, tmp.path());
  CHECK(r.exit_code == 2);
}

TEST_CASE("committing, importing and inspecting a .pt never loads LibTorch", "[cli][torch-zip][torchfree]") {
  Repo repo;
  put_ckpt(repo, "pt_wrapped");
  for (auto cmd : std::vector<std::vector<std::string>>{{"commit", "models/clf", "-m", "pt"},
                                                        {"status"},
                                                        {"show", "models/clf"},
                                                        {"import", "models/clf/weights.pt", "--to", "x.safetensors"}}) {
    RunResult r = run_mvc(cmd, repo.root, {{"LD_DEBUG", "libs"}});
    INFO(cmd[0] << ": " << r.err.substr(r.err.size() > 2000 ? r.err.size() - 2000 : 0));
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("libzip") != std::string::npos);  // the probe sees libraries load at all
    CHECK(r.err.find("libtorch") == std::string::npos);
    CHECK(r.err.find("libmvc_torch") == std::string::npos);
  }
  CHECK(contains(run_mvc({"show", "models/clf"}, repo.root).out, "weights.pt  torch-zip"));
}
