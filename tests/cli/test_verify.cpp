// The reproducibility record: commit --example stores the input and the output as objects and
// records them in the pointer's [example]; verify reruns and compares (exit 7 on a mismatch,
// with the largest absolute difference).
#include <cstring>

#include "cli/cli_support.h"
#include "weights/safetensors.h"

using namespace mvc::test;

TEST_CASE("commit --example records the example, verify reruns it", "[cli][verify]") {
  ExampleRepo repo;
  std::string ptr = repo.pointer();
  auto at = ptr.find("[example]\ninput = \"");
  REQUIRE(at != std::string::npos);
  std::string in_sha = ptr.substr(at + 19, 64);
  // The input object is the file's bytes.
  CHECK(read_file(object_path(repo.root, in_sha)) == read_file(repo.input));
  RunResult r = run_mvc({"verify", "v1", "models/lstm"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("models/lstm at v1: the example reproduces (largest absolute difference 0") != std::string::npos);
  // Without the work-tree weights, from the cache; and for the work tree.
  fs::remove(repo / "models/lstm/weights.safetensors");
  CHECK(run_mvc({"verify", "models/lstm"}, repo.root).exit_code == 0);
  // checkout restores the weights and reruns the example.
  r = run_mvc({"checkout"}, repo.root);
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("example reproduced") != std::string::npos);
}

TEST_CASE("verify fails with exit 7 and the largest difference when the model no longer computes the record",
          "[cli][verify]") {
  ExampleRepo repo;
  std::string v1 = repo.pointer();
  std::string example = v1.substr(v1.find("[example]"));
  // New weights (fc.bias[0] + 1.0), committed: the example is dropped, then put back by hand.
  fs::path w = repo / "models/lstm/weights.safetensors";
  std::string bytes = read_file(w);
  auto h = mvc::weights::parse_safetensors_bytes(bytes, "w");
  for (const auto& t : h.tensors) {
    if (t.name != "fc.bias") continue;
    float f;
    std::memcpy(&f, bytes.data() + h.data_offset + t.begin, 4);
    f += 1.0f;
    std::memcpy(bytes.data() + h.data_offset + t.begin, &f, 4);
  }
  write_file(w, bytes);
  REQUIRE(run_mvc({"commit", "models/lstm", "-m", "v2"}, repo.root).exit_code == 0);
  CHECK(repo.pointer().find("[example]") == std::string::npos);
  write_file(repo / "models/lstm/weights.safetensors.mvc", repo.pointer() + "\n" + example);
  RunResult r = run_mvc({"verify", "models/lstm"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err ==
        "mvc: error: models/lstm: the example's output differs from the record: largest absolute difference 1 in "
        "'fc' (atol 1e-05)\n");
  // checkout reruns the example too, and refuses before touching the work tree.
  auto before = snapshot(repo / "models");
  r = run_mvc({"checkout", "--force"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err.find("the example's output differs from the record") != std::string::npos);
  CHECK(snapshot(repo / "models") == before);
  // A version without a record says how to make one.
  r = run_mvc({"verify", "HEAD", "models/lstm"}, repo.root);
  CHECK(r.exit_code == 7);
  CHECK(r.err ==
        "mvc: error: models/lstm at HEAD: no example recorded (record one with mvc commit models/lstm --example "
        "INPUT.safetensors)\n");
}
