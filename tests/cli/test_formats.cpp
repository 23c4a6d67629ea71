// Reading names and formats from files through the real binary: safetensors files whose header
// size starts with byte 0x80 are safetensors (import writes them, commit accepts them), and
// names read from files (tensor keys, pickle strings) are escaped in errors, which stay one line.
#include "cli/cli_support.h"

#include "weights/safetensors.h"

using namespace mvc::test;
namespace w = mvc::weights;

namespace {

bool contains(const std::string& s, const std::string& x) { return s.find(x) != std::string::npos; }

/// The tensors of a safetensors file, their data held in `keep`.
std::vector<w::TensorBytes> tensors_of(const fs::path& p, std::string& keep) {
  w::SafetensorsHeader h = w::read_safetensors_header(p);
  keep = read_file(p);
  std::vector<w::TensorBytes> out;
  for (const auto& t : h.tensors)
    out.push_back({t.name, t.dtype, t.shape, std::string_view(keep).substr(h.data_offset + t.begin, t.end - t.begin)});
  return out;
}

/// mvc's error on stderr is one line ("mvc: error: ...\n") without a raw control character.
void require_one_printable_line(const std::string& err) {
  INFO(err);
  REQUIRE(!err.empty());
  CHECK(err.find('\n') == err.size() - 1);
  for (char c : err.substr(0, err.size() - 1)) CHECK(static_cast<unsigned char>(c) >= 0x20);
}

}  // namespace

TEST_CASE("import writes a safetensors file whose header size starts with 0x80, commit accepts it",
          "[cli][import][detect]") {
  Repo repo;
  repo.put_model("mlp_v1");
  std::string keep;
  std::vector<w::TensorBytes> tensors = tensors_of(repo / "models/clf/weights.safetensors", keep);
  // Rename layer linear1 until mvc's writer gives a header size N with N % 256 == 128 and
  // N < 1536: its first byte is 0x80 and its second at most 5, the start of a pickle.
  std::string layer;
  std::vector<w::TensorBytes> renamed;
  std::uint64_t n = 0;
  std::vector<std::string> names;
  for (std::size_t k = 1; k < 400 && layer.empty(); ++k) {
    std::string candidate = "l" + std::string(k, 'x');
    renamed = tensors;
    names.clear();
    for (auto& t : renamed) {
      if (t.name.rfind("linear1.", 0) == 0) t.name = candidate + t.name.substr(7);
      names.push_back(t.name);
    }
    n = w::safetensors_header_bytes(renamed, {}).size() - 8;
    if (n % 256 == 128) layer = candidate;
  }
  REQUIRE(!layer.empty());
  REQUIRE(n < 1536);
  std::string arch = read_file(repo / "models/clf/arch.toml");
  auto at = arch.find("name = \"linear1\"");
  REQUIRE(at != std::string::npos);
  write_file(repo / "models/clf/arch.toml", arch.replace(at, 16, "name = \"" + layer + "\""));

  TempDir tmp;
  w::write_safetensors(tmp / "src.safetensors", renamed);  // the source starts with 0x80 too
  fs::remove(repo / "models/clf/weights.safetensors");
  RunResult r =
      run_mvc({"import", (tmp / "src.safetensors").string(), "--to", "models/clf/weights.safetensors"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.out, "imported 4 tensors (241 elements)"));
  std::string out = read_file(repo / "models/clf/weights.safetensors");
  REQUIRE(out.size() > 8);
  CHECK(static_cast<unsigned char>(out[0]) == 0x80);
  CHECK(static_cast<unsigned char>(out[1]) == n / 256);
  CHECK(w::read_safetensors_header(repo / "models/clf/weights.safetensors").header_size == n);

  r = run_mvc({"commit", "models/clf", "-m", "imported"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(read_file(repo / "models/clf/weights.safetensors.mvc"), "kind = \"safetensors\""));
  CHECK(repo.commit_count() == 1);  // the import's commit
  r = run_mvc({"status"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK_FALSE(contains(r.out, "modified"));
}

TEST_CASE("names read from files are escaped in errors, which stay one line", "[cli][errors][escape]") {
  const std::string raw = "evil\n\x1b[31mred";
  const std::string shown = "evil\\x0a\\x1b[31mred";
  // The commit of weights holding the name is refused with one printable line naming it
  // escaped, and nothing changes.
  auto commit_is_refused = [&](const Repo& repo) {
    auto before = snapshot(repo.root);
    RunResult r = run_mvc({"commit", "models/clf", "-m", "evil"}, repo.root);
    CHECK(r.exit_code == 7);
    require_one_printable_line(r.err);
    CHECK(contains(r.err, "unexpected tensor '" + shown + "'"));
    CHECK(snapshot(repo.root) == before);
  };
  SECTION("a safetensors tensor key") {
    Repo repo;
    repo.put_model("mlp_v1");
    std::string keep;
    std::vector<w::TensorBytes> tensors = tensors_of(repo / "models/clf/weights.safetensors", keep);
    const std::string zero(4, '\0');
    tensors.push_back({raw, w::DType::F32, {1}, zero});
    w::write_safetensors(repo / "models/clf/weights.safetensors", tensors);
    commit_is_refused(repo);
    CHECK(repo.commit_count() == 0);  // nothing was committed
  }
  SECTION("a string of a torch.save pickle") {
    Repo repo;
    fs::create_directories(repo / "models/clf");
    for (const char* f : {"arch.toml", "hparams.toml"})
      fs::copy_file(fixture_dir() / "ckpt/pt_plain" / f, repo / "models/clf" / f);
    fs::copy_file(fixture_dir() / "ckpt/evil_names.pt", repo / "models/clf/weights.pt");
    commit_is_refused(repo);
    RunResult r = run_mvc({"import", "models/clf/weights.pt", "--to", "x.safetensors"}, repo.root);
    CHECK(r.exit_code == 0);  // names are data, kept as they are: only messages escape them
    CHECK(w::read_safetensors_header(repo / "x.safetensors").find(raw) != nullptr);
  }
  SECTION("a command line argument") {
    TempDir tmp;
    RunResult r = run_mvc({"import", "missing\n\x1b[31m.pt", "--to", "x.safetensors"}, tmp.path());
    CHECK(r.exit_code == 1);
    require_one_printable_line(r.err);
    CHECK(contains(r.err, "missing\\x0a\\x1b[31m.pt"));
  }
}
