// Work-tree text files through git's filters (issue 11 item 7): a clone whose git converts line
// ends (core.autocrlf=true, or `* text eol=crlf` in .gitattributes) holds CRLF copies of the
// LF blobs of arch.toml, hparams.toml, metrics.toml, the pointer and the model's .gitignore.
// mvc compares them with blobs as git status does (through the filters), writes them as git
// checkout would (CRLF there), and parses them with either line end.
#include <algorithm>

#include "cli/remote_support.h"

using namespace mvc::test;

namespace {

std::size_t count(const std::string& s, const std::string& what) {
  std::size_t n = 0;
  for (std::size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

/// Every line of `text` ends in CRLF (and there is at least one).
bool all_crlf(const std::string& text) {
  return !text.empty() && count(text, "\n") == count(text, "\r\n") && text.back() == '\n';
}

std::string lf(std::string s) {
  s.erase(std::remove(s.begin(), s.end(), '\r'), s.end());
  return s;
}

std::string crlf(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '\n' ? std::string("\r\n") : std::string(1, c);
  return out;
}

/// An origin with a folder remote as default, v1 (mlp_v1, metrics, tag clf-v1) and v2 (mlp_v2,
/// other metrics) committed and pushed; `attributes`, when not empty, committed first as
/// .gitattributes.
struct Origin {
  Repo a;
  fs::path remote;
  explicit Origin(const std::string& attributes = "") : remote(a.tmp.path() / "remote") {
    REQUIRE(run_mvc({"remote", "add", "origin", remote.string(), "--default"}, a.root).exit_code == 0);
    if (!attributes.empty()) {
      write_file(a / ".gitattributes", attributes);
      git({"add", ".gitattributes"}, a.root);
    }
    a.put_model("mlp_v1");
    write_file(a / "models/clf/metrics.toml", "loss = 0.5\naccuracy = 0.75\n");
    RunResult r = run_mvc({"commit", "models/clf", "-m", "v1", "--tag", "clf-v1"}, a.root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    a.put_model("mlp_v2");
    write_file(a / "models/clf/metrics.toml", "loss = 0.25\naccuracy = 0.875\n");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "v2"}, a.root).exit_code == 0);
    r = run_mvc({"push", "--all-commits"}, a.root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
  }
  /// `git clone [-c CONFIG] origin NAME`, then `mvc pull` (the weights from the remote).
  fs::path clone(const std::string& name, const std::string& config) const {
    fs::path b = a.tmp.path() / name;
    std::vector<std::string> args{"clone", "-q"};
    if (!config.empty()) args.insert(args.end(), {"-c", config});
    args.insert(args.end(), {a.root.string(), b.string()});
    git(args, a.tmp.path());
    git({"config", "user.name", "Test User"}, b);
    git({"config", "user.email", "test@example.com"}, b);
    RunResult r = run_mvc({"pull"}, b);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    return b;
  }
};

const std::vector<std::string> kTextFiles{"models/clf/arch.toml", "models/clf/hparams.toml", "models/clf/metrics.toml",
                                          "models/clf/weights.safetensors.mvc", "models/clf/.gitignore"};

/// What a CRLF clone must show whatever mvc did last: git and mvc both call it clean, the text
/// files are CRLF on disk as git writes them, the .gitignore has its two lines.
void check_clean_crlf_clone(const fs::path& b) {
  CHECK(git({"status", "--porcelain"}, b).out == "");
  RunResult st = run_mvc({"status"}, b);
  INFO(st.err);
  CHECK(st.exit_code == 0);
  CHECK(st.out == "models/clf: clean\n");
  for (auto& f : kTextFiles) {
    INFO(f);
    CHECK(all_crlf(read_file(b / f)));
  }
  std::string ign = read_file(b / "models/clf/.gitignore");
  CHECK(count(ign, "\n") == 2);
  CHECK(count(ign, "/weights.safetensors\r\n") == 1);
}

void crlf_clone_round_trip(const Origin& o, const fs::path& b) {
  SECTION("a fresh clone is clean in git and mvc, with CRLF files") { check_clean_crlf_clone(b); }

  SECTION("checkout of another revision and back, both forms") {
    RunResult r = run_mvc({"checkout", "clf-v1", "--no-load"}, b);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    check_clean_crlf_clone(b);
    CHECK(read_file(b / "models/clf/metrics.toml") == "loss = 0.5\r\naccuracy = 0.75\r\n");
    r = run_mvc({"checkout", "main", "--no-load"}, b);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    check_clean_crlf_clone(b);
    // REV -- PATH: the CRLF files are unchanged against the index, so nothing is in the way.
    r = run_mvc({"checkout", "clf-v1", "--no-load", "--", "models/clf"}, b);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(read_file(b / "models/clf/metrics.toml") == "loss = 0.5\r\naccuracy = 0.75\r\n");
    CHECK(lf(read_file(b / "models/clf/weights.safetensors.mvc")) ==
          git({"show", "clf-v1:models/clf/weights.safetensors.mvc"}, o.a.root).out);
    r = run_mvc({"checkout", "HEAD", "--no-load", "--", "models/clf"}, b);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    check_clean_crlf_clone(b);
  }

  SECTION("commit of a changed model: the pointer written as git would, no duplicate .gitignore line") {
    write_weights_variant("mlp_v2", b / "models/clf/weights.safetensors", 1);
    write_file(b / "models/clf/metrics.toml", "loss = 0.125\r\naccuracy = 0.9375\r\n");
    RunResult st = run_mvc({"status"}, b);
    CHECK(st.out == "models/clf: weights modified, metrics.toml modified\n");
    RunResult r = run_mvc({"commit", "models/clf", "-m", "v3"}, b);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    check_clean_crlf_clone(b);
    // The blobs stay LF, as git add stores them.
    CHECK(git({"show", "HEAD:models/clf/metrics.toml"}, b).out == "loss = 0.125\naccuracy = 0.9375\n");
    std::string ptr_blob = git({"show", "HEAD:models/clf/weights.safetensors.mvc"}, b).out;
    CHECK(ptr_blob.find('\r') == std::string::npos);
    CHECK(ptr_blob.find("sha256 = \"") != std::string::npos);
    CHECK(lf(read_file(b / "models/clf/weights.safetensors.mvc")) == ptr_blob);
    CHECK(git({"show", "HEAD:models/clf/.gitignore"}, b).out == git({"show", "HEAD~1:models/clf/.gitignore"}, b).out);
    CHECK(git({"diff", "--name-only", "HEAD~1", "HEAD"}, b).out ==
          "models/clf/metrics.toml\nmodels/clf/weights.safetensors.mvc\n");
    // Committing again finds nothing to do, and still no duplicate line.
    r = run_mvc({"commit", "models/clf", "-m", "again"}, b);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("nothing to commit") != std::string::npos);
    check_clean_crlf_clone(b);
  }
}

}  // namespace

TEST_CASE("a clone with core.autocrlf=true: clean, checks out, commits without duplicate lines", "[cli][filters]") {
  Origin o;
  fs::path b = o.clone("crlf", "core.autocrlf=true");
  crlf_clone_round_trip(o, b);
}

TEST_CASE("a clone whose .gitattributes says '* text eol=crlf': clean, checks out, commits", "[cli][filters]") {
  Origin o("* text eol=crlf\n");
  fs::path b = o.clone("eol", "");
  crlf_clone_round_trip(o, b);
}

TEST_CASE("without filters a CRLF file is a change as git says, and a CRLF .gitignore gains a CRLF line once",
          "[cli][filters]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "v1"}, repo.root).exit_code == 0);

  SECTION("arch.toml rewritten with CRLF: modified for git and mvc, and it still parses") {
    const std::string arch = crlf(read_file(repo / "models/clf/arch.toml"));
    write_file(repo / "models/clf/arch.toml", arch);
    CHECK(git({"status", "--porcelain"}, repo.root).out == " M models/clf/arch.toml\n");
    CHECK(run_mvc({"status"}, repo.root).out == "models/clf: arch.toml modified\n");
    RunResult r = run_mvc({"commit", "models/clf", "-m", "crlf arch"}, repo.root);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
    CHECK(git({"show", "HEAD:models/clf/arch.toml"}, repo.root).out == arch);
    CHECK(run_mvc({"status"}, repo.root).out == "models/clf: clean\n");
  }

  SECTION("a CRLF pointer parses") {
    write_file(repo / "models/clf/weights.safetensors.mvc",
               crlf(read_file(repo / "models/clf/weights.safetensors.mvc")));
    CHECK(run_mvc({"status"}, repo.root).out == "models/clf: pointer modified\n");
    RunResult r = run_mvc({"checkout", "--no-load"}, repo.root);
    INFO(r.out << r.err);
    CHECK(r.exit_code == 0);
  }

  SECTION("a committed CRLF .gitignore: one CRLF line added for a new weights file, never twice") {
    write_file(repo / "models/clf/.gitignore", "# mine\r\n/weights.safetensors\r\n");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "crlf ignore"}, repo.root).exit_code == 0);
    CHECK(read_file(repo / "models/clf/.gitignore") == "# mine\r\n/weights.safetensors\r\n");
    fs::rename(repo / "models/clf/weights.safetensors", repo / "models/clf/best.safetensors");
    RunResult r = run_mvc({"commit", "models/clf", "-m", "best"}, repo.root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    const std::string want = "# mine\r\n/weights.safetensors\r\n/best.safetensors\r\n";
    CHECK(read_file(repo / "models/clf/.gitignore") == want);
    REQUIRE(run_mvc({"commit", "models/clf", "-m", "again"}, repo.root).exit_code == 0);
    CHECK(read_file(repo / "models/clf/.gitignore") == want);
    CHECK(git({"status", "--porcelain"}, repo.root).out == "");
  }
}

TEST_CASE("checkout --theirs in a conflict writes the side's files as git would (eol=crlf)", "[cli][filters]") {
  Repo repo;
  write_file(repo / ".gitattributes", "* text eol=crlf\n");
  git({"add", ".gitattributes"}, repo.root);
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "base"}, repo.root).exit_code == 0);
  const std::string hparams = lf(read_file(repo / "models/clf/hparams.toml"));
  git({"checkout", "-q", "-b", "feature"}, repo.root);
  repo.put_model("mlp_v2");
  write_file(repo / "models/clf/hparams.toml", hparams + "note = \"theirs\"\n");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "theirs"}, repo.root).exit_code == 0);
  const std::string theirs_pointer = git({"show", "HEAD:models/clf/weights.safetensors.mvc"}, repo.root).out;
  git({"checkout", "-q", "main"}, repo.root);
  write_weights_variant("mlp_v1", repo / "models/clf/weights.safetensors", 1);
  write_file(repo / "models/clf/hparams.toml", hparams + "note = \"ours\"\n");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "ours"}, repo.root).exit_code == 0);
  REQUIRE(git({"merge", "--no-edit", "feature"}, repo.root, false).exit_code != 0);

  RunResult r = run_mvc({"checkout", "--theirs", "models/clf", "--no-load"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(read_file(repo / "models/clf/weights.safetensors.mvc") == crlf(theirs_pointer));
  CHECK(read_file(repo / "models/clf/hparams.toml") == crlf(hparams + "note = \"theirs\"\n"));
  CHECK(git({"status", "--porcelain"}, repo.root).out ==
        "M  models/clf/hparams.toml\nM  models/clf/weights.safetensors.mvc\n");
}
