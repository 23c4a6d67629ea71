// mvc log PATH --table / mvc compare PATH: versions as rows, the hparams and metrics that vary
// as columns; --sort, --columns, --csv, --json, --all; unknown columns. Real git repositories,
// real PyTorch weights (the mlp fixtures), several commits with different values.
#include "cli_support.h"

namespace mvc::test {

namespace {

using nlohmann::json;

const char* kHparams = R"(input_size = 10
hidden_size = 20
output_size = 1

[optimizer]
name = "sgd"
lr = %LR%
)";

std::string hparams(const std::string& lr) {
  std::string s = kHparams;
  s.replace(s.find("%LR%"), 4, lr);
  return s;
}

/// Three versions of models/clf: lr 0.05 / 0.01 / 0.001 with accuracy 0.81 / 0.93 / (none, a
/// loss instead), weights mlp_v1, mlp_v2, mlp_v2; v1 tagged clf-v1 and v3 tagged clf-v3.
struct TableRepo : Repo {
  std::vector<std::string> ids;  // oldest first
  TableRepo() {
    put_model("mlp_v1");
    write_file(root / "models/clf/hparams.toml", hparams("0.05"));
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.81\nepochs = 10\n");
    commit("baseline", "clf-v1");
    put_model("mlp_v2");
    write_file(root / "models/clf/hparams.toml", hparams("0.01"));
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.93\nepochs = 10\n");
    commit("lower lr", "");
    write_file(root / "models/clf/hparams.toml", hparams("0.001"));
    write_file(root / "models/clf/metrics.toml", "loss = 0.25\nepochs = 10\n");
    commit("lowest lr", "clf-v3");
  }
  void commit(const std::string& msg, const std::string& tag) {
    std::vector<std::string> args{"commit", "models/clf", "-m", msg};
    if (!tag.empty()) args.insert(args.end(), {"--tag", tag});
    RunResult r = run_mvc(args, root);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    ids.push_back(git({"rev-parse", "HEAD"}, root).out.substr(0, 40));
  }
  json table(std::vector<std::string> extra) const {
    std::vector<std::string> args{"log", "models/clf", "--table", "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    RunResult r = run_mvc(args, root);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return json::parse(r.out);
  }
};

std::vector<std::string> commits(const json& t) {
  std::vector<std::string> out;
  for (auto& r : t["rows"]) out.push_back(r["commit"]);
  return out;
}

}  // namespace

TEST_CASE("log --table shows the versions and only the hparams and metrics that vary", "[cli][log_table]") {
  TableRepo repo;
  json t = repo.table({});
  CHECK(t["path"] == "models/clf");
  // input_size, optimizer.name and epochs are the same in every version: not shown. Keys in the
  // order they appear, oldest version first.
  CHECK(t["columns"] == json::array({"commit", "tags", "date", "optimizer.lr", "accuracy", "loss"}));
  REQUIRE(t["rows"].size() == 3);
  CHECK(commits(t) == std::vector<std::string>{repo.ids[2], repo.ids[1], repo.ids[0]});  // newest first
  CHECK(t["rows"][0]["short"] == repo.ids[2].substr(0, 7));
  CHECK(t["rows"][0]["tags"] == json::array({"clf-v3"}));
  CHECK(t["rows"][0]["aliases"] == json::array());
  CHECK(t["rows"][0]["optimizer.lr"] == 0.001);
  CHECK(t["rows"][0]["accuracy"].is_null());
  CHECK(t["rows"][0]["loss"] == 0.25);
  CHECK(t["rows"][1]["optimizer.lr"] == 0.01);
  CHECK(t["rows"][1]["accuracy"] == 0.93);
  CHECK(t["rows"][1]["tags"] == json::array());
  CHECK(t["rows"][2]["accuracy"] == 0.81);
  CHECK(t["rows"][2]["tags"] == json::array({"clf-v1"}));
  CHECK(t["rows"][2]["date"] ==
        git({"log", "-1", "--format=%ad", "--date=format:%Y-%m-%d %H:%M:%S %z", repo.ids[0]}, repo.root)
            .out.substr(0, 25));

  // The text form: aligned, numbers right-aligned, a missing value as "-".
  RunResult text = run_mvc({"log", "models/clf", "--table"}, repo.root);
  INFO(text.err);
  REQUIRE(text.exit_code == 0);
  std::vector<std::string> lines;
  for (std::size_t p = 0, q; (q = text.out.find('\n', p)) != std::string::npos; p = q + 1)
    lines.push_back(text.out.substr(p, q - p));
  REQUIRE(lines.size() == 4);
  CHECK(lines[0].rfind("commit   tags    date", 0) == 0);
  CHECK(lines[0].find("optimizer.lr  accuracy  loss") != std::string::npos);
  CHECK(lines[1].rfind(repo.ids[2].substr(0, 7) + "  clf-v3  ", 0) == 0);
  REQUIRE(lines[1].size() > 28);
  CHECK(lines[1].substr(lines[1].size() - 28) == "       0.001         -  0.25");
  REQUIRE(lines[2].size() > 28);
  CHECK(lines[2].substr(lines[2].size() - 28) == "        0.01      0.93     -");
  CHECK(lines[3].rfind(repo.ids[0].substr(0, 7) + "  clf-v1  ", 0) == 0);

  // mvc compare is the same table.
  RunResult cmp = run_mvc({"compare", "models/clf"}, repo.root);
  CHECK(cmp.exit_code == 0);
  CHECK(cmp.out == text.out);
}

TEST_CASE("log --table --sort orders by a value, missing values last, - for descending", "[cli][log_table]") {
  TableRepo repo;
  CHECK(commits(repo.table({"--sort", "accuracy"})) == std::vector<std::string>{repo.ids[0], repo.ids[1], repo.ids[2]});
  CHECK(commits(repo.table({"--sort", "-accuracy"})) ==
        std::vector<std::string>{repo.ids[1], repo.ids[0], repo.ids[2]});
  CHECK(commits(repo.table({"--sort=-accuracy"})) == std::vector<std::string>{repo.ids[1], repo.ids[0], repo.ids[2]});
  CHECK(commits(repo.table({"--sort", "optimizer.lr"})) ==
        std::vector<std::string>{repo.ids[2], repo.ids[1], repo.ids[0]});
  CHECK(commits(repo.table({"--sort", "-date"})) == std::vector<std::string>{repo.ids[2], repo.ids[1], repo.ids[0]});
  // A column that is not shown can still order the rows; equal values keep log order.
  CHECK(commits(repo.table({"--sort", "epochs"})) == std::vector<std::string>{repo.ids[2], repo.ids[1], repo.ids[0]});
  // Strings sort bytewise; versions without a tag last.
  CHECK(commits(repo.table({"--sort", "-tags"})) == std::vector<std::string>{repo.ids[2], repo.ids[0], repo.ids[1]});
}

TEST_CASE("log --table --columns picks columns, qualified names and fixed ones included", "[cli][log_table]") {
  TableRepo repo;
  json t = repo.table({"--columns", "accuracy,hparams.input_size,message,parameters,weights", "--sort", "-accuracy"});
  CHECK(t["columns"] == json::array({"accuracy", "hparams.input_size", "message", "parameters", "weights"}));
  REQUIRE(t["rows"].size() == 3);
  CHECK(t["rows"][0] == json({{"accuracy", 0.93},
                              {"hparams.input_size", 10},
                              {"message", "lower lr"},
                              {"parameters", 241},
                              {"weights", pointer_sha(repo / "models/clf/weights.safetensors.mvc")}}));
  CHECK(t["rows"][2]["accuracy"].is_null());
  CHECK(t["rows"][2]["message"] == "lowest lr");
  // The option takes one argument: the path may follow it.
  RunResult r = run_mvc({"compare", "--columns", "commit,accuracy", "models/clf", "--sort", "accuracy"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "commit   accuracy\n" + repo.ids[0].substr(0, 7) + "      0.81\n" + repo.ids[1].substr(0, 7) +
                     "      0.93\n" + repo.ids[2].substr(0, 7) + "         -\n");
}

TEST_CASE("log --table --csv is RFC 4180", "[cli][log_table]") {
  TableRepo repo;
  // Appended to the [optimizer] table: optimizer.note.
  write_file(repo / "models/clf/hparams.toml", hparams("0.1") + "note = \"a, \\\"quoted\\\" note\"\n");
  repo.commit("with a note", "");
  RunResult r = run_mvc({"compare", "models/clf", "--csv", "--columns", "commit,optimizer.lr,optimizer.note,accuracy"},
                        repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out == "commit,optimizer.lr,optimizer.note,accuracy\r\n" + repo.ids[3].substr(0, 7) +
                     ",0.1,\"a, \"\"quoted\"\" note\",\r\n" + repo.ids[2].substr(0, 7) + ",0.001,,\r\n" +
                     repo.ids[1].substr(0, 7) + ",0.01,,0.93\r\n" + repo.ids[0].substr(0, 7) + ",0.05,,0.81\r\n");
  // Python's csv module reads it back.
  write_file(repo.tmp / "t.csv", r.out);
  RunResult py = run({"python3", "-c",
                      "import csv,sys; rows=list(csv.reader(open(sys.argv[1], newline=''))); "
                      "print(len(rows), rows[1][2], rows[4][3])",
                      (repo.tmp / "t.csv").string()});
  INFO(py.err);
  CHECK(py.out == "5 a, \"quoted\" note 0.81\n");
}

TEST_CASE("log --table --all takes every branch and tag, each version once", "[cli][log_table]") {
  TableRepo repo;
  // A branch from v2 with its own version; HEAD back on main; a second tag on v1.
  git({"checkout", "-q", "-b", "experiment", repo.ids[1]}, repo.root);
  write_file(repo / "models/clf/hparams.toml", hparams("0.5"));
  write_file(repo / "models/clf/metrics.toml", "accuracy = 0.5\nepochs = 10\n");
  git({"add", "models/clf"}, repo.root);
  git({"commit", "-q", "-m", "too high"}, repo.root);
  std::string exp = git({"rev-parse", "HEAD"}, repo.root).out.substr(0, 40);
  git({"checkout", "-q", "main"}, repo.root);
  git({"tag", "also-v1", repo.ids[0]}, repo.root);

  CHECK(repo.table({})["rows"].size() == 3);  // HEAD only
  json t = repo.table({"--all", "--sort", "-accuracy"});
  CHECK(commits(t) == std::vector<std::string>{repo.ids[1], repo.ids[0], exp, repo.ids[2]});
  CHECK(t["rows"][1]["tags"] == json::array({"also-v1", "clf-v1"}));
  CHECK(t["rows"][2]["optimizer.lr"] == 0.5);
  // Plain log --all lists the branch's version too.
  RunResult log = run_mvc({"log", "models/clf", "--all", "--json"}, repo.root);
  REQUIRE(log.exit_code == 0);
  CHECK(json::parse(log.out)["models"][0]["versions"].size() == 4);
}

TEST_CASE("log --table names the aliases and shows a single version's every value", "[cli][log_table]") {
  Repo repo;
  repo.put_model("mlp_v1");
  write_file(repo / "models/clf/metrics.toml", "accuracy = 0.7\n");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "only"}, repo.root).exit_code == 0);
  REQUIRE(run_mvc({"alias", "set", "prod", "HEAD", "--", "models/clf"}, repo.root).exit_code == 0);
  RunResult r = run_mvc({"log", "models/clf", "--table", "--json"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json t = json::parse(r.out);
  CHECK(t["columns"] == json::array({"commit", "tags", "date", "input_size", "hidden_size", "output_size",
                                     "optimizer.name", "optimizer.lr", "accuracy"}));
  REQUIRE(t["rows"].size() == 1);
  CHECK(t["rows"][0]["aliases"] == json::array({"prod"}));
  CHECK(t["rows"][0]["optimizer.name"] == "sgd");
  RunResult text = run_mvc({"compare", "models/clf", "--columns", "tags,accuracy"}, repo.root);
  CHECK(text.out == "tags        accuracy\nalias:prod       0.7\n");
}

TEST_CASE("log --table: a key in both files or named like a fixed column is qualified", "[cli][log_table]") {
  Repo repo;
  repo.put_model("mlp_v1");
  for (const char* v : {"1", "2"}) {
    write_file(repo / "models/clf/hparams.toml",
               std::string("input_size = 10\nhidden_size = 20\noutput_size = 1\nseed = ") + v + "\ndate = " + v + "\n");
    write_file(repo / "models/clf/metrics.toml", std::string("seed = ") + v + "0\n");
    REQUIRE(run_mvc({"commit", "models/clf", "-m", v}, repo.root).exit_code == 0);
  }
  RunResult r = run_mvc({"compare", "models/clf", "--json", "--sort", "metrics.seed"}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  json t = json::parse(r.out);
  CHECK(t["columns"] == json::array({"commit", "tags", "date", "hparams.seed", "hparams.date", "metrics.seed"}));
  CHECK(t["rows"][0]["metrics.seed"] == 10);
  CHECK(t["rows"][0]["hparams.date"] == 1);
  // "seed" alone is ambiguous: unknown, with a suggestion.
  RunResult bad = run_mvc({"compare", "models/clf", "--sort", "seed"}, repo.root);
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("'seed': no such column") != std::string::npos);
}

TEST_CASE("log --table: unknown columns and sort keys, and misuse, are exit 2 with a suggestion",
          "[cli][log_table][bad_input]") {
  TableRepo repo;
  auto snap = snapshot(repo.root);
  RunResult r = run_mvc({"log", "models/clf", "--table", "--sort", "-acuracy"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.out.empty());
  CHECK(r.err.rfind("mvc: error: --sort 'acuracy': no such column in models/clf's versions; did you mean 'accuracy'?",
                    0) == 0);
  r = run_mvc({"compare", "models/clf", "--columns", "commit,optimizer.rl"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.rfind("mvc: error: column 'optimizer.rl': no such column in models/clf's versions; did you mean "
                    "'optimizer.lr'?",
                    0) == 0);
  r = run_mvc({"compare", "models/clf", "--columns", "zzzzzz"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("did you mean") == std::string::npos);
  r = run_mvc({"log", "--table"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("name one model directory") != std::string::npos);
  r = run_mvc({"compare", "models/clf", "--json", "--csv"}, repo.root);
  CHECK(r.exit_code == 2);
  r = run_mvc({"log", "models/clf", "--sort", "accuracy"}, repo.root);  // --sort needs --table
  CHECK(r.exit_code == 2);
  r = run_mvc({"compare", "models/nothing"}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("models/nothing: not a model directory") != std::string::npos);
  CHECK(snapshot(repo.root) == snap);
}

}  // namespace mvc::test
