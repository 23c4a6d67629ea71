// mvc report: the page of a real PyTorch model's versions (one layer retrained by PyTorch per
// version), read back statically -- the architecture's layer nodes, one chart point per version
// and metric, the tensors that changed -- and once in headless Chromium; bad input.
#include <cmath>
#include <regex>
#include <set>

#include "cli_support.h"

namespace mvc::test {

namespace {

using nlohmann::json;

/// An HTML start tag's attributes (values with the entities unescaped).
using Attrs = std::map<std::string, std::string>;

std::string unescape(std::string s) {
  static const std::regex numeric("&#([0-9]+);");
  std::string out;
  std::smatch m;
  while (std::regex_search(s, m, numeric)) {
    out += m.prefix().str() + static_cast<char>(std::stoi(m[1]));
    s = m.suffix().str();
  }
  out += s;
  for (auto [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    for (std::size_t p; (p = out.find(from)) != std::string::npos;) out.replace(p, from.size(), to);
  }
  return out;
}

/// Every `<tag ...>` of `html` whose class list holds `cls`.
std::vector<Attrs> tags(const std::string& html, const std::string& tag, const std::string& cls) {
  std::vector<Attrs> out;
  static const std::regex attr("([a-zA-Z_:][-a-zA-Z0-9_:.]*)=\"([^\"]*)\"");
  std::regex start("<" + tag + "\\b[^>]*>");
  for (auto it = std::sregex_iterator(html.begin(), html.end(), start); it != std::sregex_iterator(); ++it) {
    std::string t = it->str();
    Attrs a;
    for (auto at = std::sregex_iterator(t.begin(), t.end(), attr); at != std::sregex_iterator(); ++at)
      a[(*at)[1]] = unescape((*at)[2]);
    std::istringstream classes(a["class"]);
    std::set<std::string> set{std::istream_iterator<std::string>(classes), std::istream_iterator<std::string>()};
    if (set.count(cls)) out.push_back(std::move(a));
  }
  return out;
}

/// The layer names of `mvc show --json` at `spec` (the expanded architecture).
std::vector<std::string> layer_names(const Repo& repo, const std::string& spec) {
  RunResult r = run_mvc({"show", "--json", spec}, repo.root);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<std::string> out;
  json j = json::parse(r.out);
  for (auto& l : j["architecture"]["layers"]) out.push_back(l["name"]);
  return out;
}

std::set<std::string> layer_ids(const std::string& html) {
  std::set<std::string> out;
  for (auto& a : tags(html, "g", "layer")) out.insert(a["id"]);
  return out;
}

/// metric → [(version short id, value text)] of the chart points, in page order.
std::map<std::string, std::vector<std::pair<std::string, std::string>>> points(const std::string& html) {
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> out;
  for (auto& a : tags(html, "circle", "point")) out[a["data-metric"]].emplace_back(a["data-version"], a["data-value"]);
  return out;
}

/// tensor name → data-change, and the relative changes of the bars.
std::map<std::string, std::string> tensor_changes(const std::string& html, std::map<std::string, double>* relative) {
  std::map<std::string, std::string> out;
  for (const char* tag : {"g", "li"})
    for (auto& a : tags(html, tag, "tensor")) {
      out[a["data-tensor"]] = a["data-change"];
      if (relative && a.count("data-relative")) (*relative)[a["data-tensor"]] = std::stod(a["data-relative"]);
    }
  return out;
}

std::string short_id(const Repo& repo, const std::string& rev) {
  return git({"rev-parse", "--short=7", rev + "^{commit}"}, repo.root).out.substr(0, 7);
}

void commit(const Repo& repo, const std::string& msg, const std::string& tag, const std::string& dir = "models/clf") {
  std::vector<std::string> args{"commit", dir, "-m", msg};
  if (!tag.empty()) args.insert(args.end(), {"--tag", tag});
  RunResult r = run_mvc(args, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
}

/// No network: nothing on the page names a URL or loads a resource.
void check_self_contained(const std::string& html) {
  for (const char* bad : {"http://", "https://", "src=", "<link", "url(", "@import", "<script", "xlink:href"}) {
    INFO(bad);
    CHECK(html.find(bad) == std::string::npos);
  }
}

// v1: the mlp fixture (accuracy, loss); v2: linear2 retrained (accuracy, loss); v3: linear1
// retrained (accuracy only); then a commit that does not touch the model.
struct ThreeVersions : Repo {
  json expected_v2, expected_v3;
  ThreeVersions() {
    put_model("mlp_v1");
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.8\nloss = 0.5\n");
    commit(*this, "v1", "v1");
    expected_v2 = retrain(*this, "linear2");
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.9\nloss = 0.25\n");
    commit(*this, "v2: linear2 retrained", "v2");
    expected_v3 = retrain(*this, "linear1");
    write_file(root / "models/clf/metrics.toml", "accuracy = 0.95\n");
    commit(*this, "v3: linear1 retrained", "v3");
    write_file(root / "README", "unrelated\n");
    git({"add", "README"}, root);
    git({"commit", "-q", "-m", "readme"}, root);
  }
};

std::string report(const Repo& repo, std::vector<std::string> args, const fs::path& out, RunResult* result = nullptr) {
  args.insert(args.begin(), "report");
  args.insert(args.end(), {"-o", out.string()});
  RunResult r = run_mvc(args, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  if (result) *result = r;
  return read_file(out);
}

}  // namespace

TEST_CASE("report of HEAD: every layer a node, a point per version and metric, the retrained layer's tensors",
          "[cli][report]") {
  ThreeVersions repo;
  RunResult r;
  fs::path out = repo.tmp / "report.html";
  std::string html = report(repo, {"models/clf"}, out, &r);
  CHECK(r.out == "wrote " + out.string() +
                     ": 3 layers, 3 versions, 2 metrics charted, 2 of 4 tensors changed against " +
                     short_id(repo, "v2") + "\n");
  check_self_contained(html);
  CHECK(html.rfind("<!DOCTYPE html>", 0) == 0);

  // The architecture: one node per layer of the expanded description, named by its id.
  std::vector<std::string> names = layer_names(repo, "HEAD:models/clf");
  CHECK(names == std::vector<std::string>{"linear1", "relu", "linear2"});
  CHECK(layer_ids(html) == std::set<std::string>{"layer-linear1", "layer-relu", "layer-linear2"});
  CHECK(tags(html, "g", "layer").size() == 3);
  CHECK(tags(html, "g", "edge").size() == 4);  // x → linear1 → relu → linear2 → output
  // Each node shows its type, output shape and parameters (Graphviz draws the label's lines).
  for (const char* text : {">Linear<", ">[batch, 20]<", ">220 parameters<", ">21 parameters<", ">ReLU<"}) {
    INFO(text);
    CHECK(html.find(text) != std::string::npos);
  }

  // The metrics: accuracy in all three versions, loss in the first two; oldest first.
  auto p = points(html);
  std::string s1 = short_id(repo, "v1"), s2 = short_id(repo, "v2"), s3 = short_id(repo, "v3");
  CHECK(p.size() == 2);
  CHECK(p["accuracy"] == std::vector<std::pair<std::string, std::string>>{{s1, "0.8"}, {s2, "0.9"}, {s3, "0.95"}});
  CHECK(p["loss"] == std::vector<std::pair<std::string, std::string>>{{s1, "0.5"}, {s2, "0.25"}});
  CHECK(tags(html, "figure", "metric").size() == 2);
  CHECK(tags(html, "circle", "current").size() == 1);  // v3's accuracy

  // The tensors against v2: exactly linear1's, with PyTorch's relative change.
  std::map<std::string, double> rel;
  auto changes = tensor_changes(html, &rel);
  CHECK(changes == std::map<std::string, std::string>{{"linear1.bias", "changed"},
                                                      {"linear1.weight", "changed"},
                                                      {"linear2.bias", "unchanged"},
                                                      {"linear2.weight", "unchanged"}});
  REQUIRE(repo.expected_v3.size() == 2);
  for (auto& [name, e] : repo.expected_v3.items()) {
    INFO(name);
    REQUIRE(rel.count(name));
    CHECK(rel[name] == Approx(e["relative"].get<double>()).epsilon(1e-3));
    CHECK(rel[name] > 0);
  }
  CHECK(tags(html, "rect", "bar").size() == 2);
}

TEST_CASE("report REV: a tag or an alias takes REV's history and compares with the version before it",
          "[cli][report]") {
  ThreeVersions repo;
  RunResult r = run_mvc({"alias", "set", "best", "v2", "--", "models/clf"}, repo.root);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  for (std::string rev : {"v2", "best"}) {
    INFO(rev);
    std::string html = report(repo, {rev, "models/clf"}, repo.tmp / (rev + ".html"));
    check_self_contained(html);
    auto p = points(html);
    CHECK(p["accuracy"] == std::vector<std::pair<std::string, std::string>>{{short_id(repo, "v1"), "0.8"},
                                                                            {short_id(repo, "v2"), "0.9"}});
    CHECK(p["loss"].size() == 2);
    auto changes = tensor_changes(html, nullptr);
    std::set<std::string> changed;
    for (auto& [t, c] : changes)
      if (c != "unchanged") changed.insert(t);
    CHECK(changed == std::set<std::string>{"linear2.bias", "linear2.weight"});
    CHECK(html.find("<title>mvc report: models/clf at " + rev + "</title>") != std::string::npos);
  }
}

TEST_CASE("report of a first version says there is no previous version", "[cli][report]") {
  ThreeVersions repo;
  RunResult r;
  std::string html = report(repo, {"v1", "models/clf"}, repo.tmp / "v1.html", &r);
  CHECK(r.out.find(": 3 layers, 1 version, 2 metrics charted\n") != std::string::npos);
  CHECK(tags(html, "circle", "point").size() == 2);  // accuracy and loss of v1
  CHECK(html.find("id=\"no-tensor-change\">this is the model&#39;s first version: there is no previous version") !=
        std::string::npos);
  CHECK(tensor_changes(html, nullptr).empty());
}

TEST_CASE("report of sharded weights after a single file: compared tensor by tensor across the shards",
          "[cli][report]") {
  Repo repo;
  repo.put_model("mlp_v1");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "one file"}, repo.root).exit_code == 0);
  fs::remove(repo / "models/clf/weights.safetensors");
  repo.put_model("mlp_shards");
  REQUIRE(run_mvc({"commit", "models/clf", "-m", "sharded"}, repo.root).exit_code == 0);
  std::string html = report(repo, {"models/clf"}, repo.tmp.path() / "sharded.html");
  // The same tensors, split in three files: every one unchanged, none called the same object.
  CHECK(tensor_changes(html, nullptr) == std::map<std::string, std::string>{{"linear1.bias", "unchanged"},
                                                                            {"linear1.weight", "unchanged"},
                                                                            {"linear2.bias", "unchanged"},
                                                                            {"linear2.weight", "unchanged"}});
  CHECK(html.find("No tensor changed.") != std::string::npos);
  CHECK(html.find("the same object") == std::string::npos);
}

TEST_CASE("report of blocks: a node per layer of the expanded architecture, skip connections as edges",
          "[cli][report]") {
  Repo repo;
  fs::create_directories(repo / "models/unet");
  fs::copy_file(source_dir() / "tests/zoo/unet/arch.toml", repo / "models/unet/arch.toml");
  fs::copy_file(fixture_dir() / "zoo/unet/weights.safetensors", repo / "models/unet/weights.safetensors");
  commit(repo, "unet", "", "models/unet");
  std::vector<std::string> names = layer_names(repo, "HEAD:models/unet");
  REQUIRE(names.size() > 20);
  std::set<std::string> ids;
  for (auto& n : names) ids.insert("layer-" + n);
  REQUIRE(ids.size() == names.size());
  std::string html = report(repo, {"models/unet"}, repo.tmp / "unet.html");
  check_self_contained(html);
  CHECK(layer_ids(html) == ids);
  CHECK(tags(html, "g", "layer").size() == names.size());
  CHECK(html.find("id=\"no-metrics\"") != std::string::npos);  // no metrics.toml
}

TEST_CASE("report escapes what users wrote: commit messages and metric names", "[cli][report]") {
  Repo repo;
  repo.put_model("mlp_v1");
  write_file(repo / "models/clf/metrics.toml", "\"a<b>&'\\\"c\" = 1.5\n");
  commit(repo, "<script>alert('x')</script> & \"quotes\"", "v1");
  std::string html = report(repo, {"models/clf"}, repo.tmp / "r.html");
  check_self_contained(html);
  CHECK(html.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;quotes&quot;") != std::string::npos);
  auto p = points(html);
  CHECK(p["a<b>&'\"c"] == std::vector<std::pair<std::string, std::string>>{{short_id(repo, "v1"), "1.5"}});
}

TEST_CASE("report bad input: unknown revision and not a model directory are 2, a missing -o directory 1",
          "[cli][report]") {
  ThreeVersions repo;
  auto before = snapshot(repo.root);
  fs::path out = repo.tmp / "r.html";

  RunResult r = run_mvc({"report", "nosuchrev", "models/clf", "-o", out.string()}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: unknown revision 'nosuchrev'\n");
  CHECK(!fs::exists(out));

  r = run_mvc({"report", "v2", "models", "-o", out.string()}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: models at v2: not a model directory (no arch.toml)\n");
  CHECK(!fs::exists(out));

  fs::path missing = repo.tmp / "nodir" / "r.html";
  r = run_mvc({"report", "models/clf", "-o", missing.string()}, repo.root);
  CHECK(r.exit_code == 1);
  CHECK(r.err == "mvc: error: " + missing.string() + ": cannot write the report: " + (repo.tmp / "nodir").string() +
                     " is not a directory\n");
  CHECK(!fs::exists(repo.tmp / "nodir"));

  r = run_mvc({"report", "models/clf"}, repo.root);  // -o is required
  CHECK(r.exit_code == 2);
  r = run_mvc({"report", "models/clf", "-o", ""}, repo.root);  // an empty -o: refused before any work
  CHECK(r.exit_code == 2);
  CHECK(r.err == "mvc: error: report: -o names no file\n");
  r = run_mvc({"report", "v1", "v2", "models/clf", "-o", out.string()}, repo.root);
  CHECK(r.exit_code == 2);
  CHECK(!fs::exists(out));
  CHECK(snapshot(repo.root) == before);  // nothing in the repository changed
}

TEST_CASE("report never loads LibTorch, and Graphviz runs in the process", "[cli][report][torchfree]") {
  ThreeVersions repo;
  fs::path out = repo.tmp / "r.html";
  RunResult r = run_mvc({"report", "v2", "models/clf", "-o", out.string()}, repo.root, {{"LD_DEBUG", "libs"}});
  CHECK(r.exit_code == 0);
  CHECK(r.err.find("libgit2") != std::string::npos);  // the probe sees libraries load at all
  CHECK(r.err.find("libgvc") != std::string::npos);
  CHECK(r.err.find("libgvplugin_dot_layout") != std::string::npos);
  CHECK(r.err.find("libtorch") == std::string::npos);
  CHECK(r.err.find("libmvc_torch") == std::string::npos);
  CHECK(fs::exists(out));
}

TEST_CASE("report of a version without metrics is written and says there are none", "[cli][report]") {
  Repo repo;
  repo.put_model("mlp_v1");
  commit(repo, "v1", "v1");
  retrain(repo, "linear2");
  commit(repo, "v2", "v2");
  RunResult r;
  std::string html = report(repo, {"models/clf"}, repo.tmp / "r.html", &r);
  CHECK(r.out.find(": 3 layers, 2 versions, 0 metrics charted, 2 of 4 tensors changed against ") != std::string::npos);
  CHECK(html.find("<p class=\"note\" id=\"no-metrics\">No metrics: none of these versions has a numeric value in "
                  "metrics.toml.</p>") != std::string::npos);
  CHECK(tags(html, "circle", "point").empty());
  CHECK(tags(html, "g", "layer").size() == 3);
}

// Hidden from the default run: CTest's report.chromium runs it ("[chromium]", tests/CMakeLists.txt).
TEST_CASE("report in headless Chromium: the DOM has every layer node and point, the screenshot is not blank",
          "[.][cli][report][chromium]") {
  Repo repo;
  fs::create_directories(repo / "models/unet");
  fs::copy_file(source_dir() / "tests/zoo/unet/arch.toml", repo / "models/unet/arch.toml");
  fs::copy_file(fixture_dir() / "zoo/unet/weights.safetensors", repo / "models/unet/weights.safetensors");
  for (int k = 1; k <= 4; ++k) {
    write_file(repo / "models/unet/metrics.toml", "dice = " + std::to_string(0.5 + 0.1 * k) + "\n");
    commit(repo, "unet " + std::to_string(k), "v" + std::to_string(k), "models/unet");
  }
  fs::path page = repo.tmp / "unet report.html";
  std::string html = report(repo, {"models/unet"}, page);
  std::size_t layers = layer_names(repo, "HEAD:models/unet").size();
  REQUIRE(tags(html, "g", "layer").size() == layers);

  // Debian's chromium (scripts/install-deps.sh): missing is a failure, not a skip.
  const fs::path chromium = "/usr/bin/chromium";
  REQUIRE(fs::exists(chromium));
  std::vector<std::string> base{"timeout",         "120",
                                chromium.string(), "--headless",
                                "--no-sandbox",    "--disable-gpu",
                                "--no-first-run",  "--user-data-dir=" + (repo.tmp / "chromium-profile").string()};
  std::string url = "file://" + page.string();
  for (std::size_t p; (p = url.find(' ')) != std::string::npos;) url.replace(p, 1, "%20");

  std::vector<std::string> dump = base;
  dump.insert(dump.end(), {"--dump-dom", url});
  RunResult r = run(dump, repo.tmp.path(), {{"HOME", repo.tmp.path().string()}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(tags(r.out, "g", "layer").size() == layers);
  auto p = points(r.out);
  CHECK(p.size() == 1);
  CHECK(p["dice"].size() == 4);
  CHECK(p["dice"].back() == std::pair<std::string, std::string>{short_id(repo, "v4"), "0.9"});

  fs::path png = repo.tmp / "shot.png";
  std::vector<std::string> shot = base;
  shot.insert(shot.end(), {"--hide-scrollbars", "--window-size=1200,900", "--screenshot=" + png.string(), url});
  r = run(shot, repo.tmp.path(), {{"HOME", repo.tmp.path().string()}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(png));
  // Decode the PNG with Python's zlib (8-bit RGB or RGBA, all five row filters) and count colours.
  const char* decode = R"(import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
colours = {}
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b = prev[i]
        c = prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    for x in range(0, stride, bpp):
        k = bytes(line[x:x + 3])
        colours[k] = colours.get(k, 0) + 1
    prev = line
top = max(colours.values())
print(w, h, len(colours), w * h - top)
)";
  write_file(repo.tmp / "png.py", decode);
  RunResult d = run({"/usr/bin/python3", (repo.tmp / "png.py").string(), png.string()});
  INFO(d.err);
  REQUIRE(d.exit_code == 0);
  std::istringstream in(d.out);
  long w = 0, h = 0, colours = 0, others = 0;
  in >> w >> h >> colours >> others;
  CHECK(w == 1200);
  CHECK(h == 900);
  CHECK(colours > 16);          // text, node fills, lines: not one colour
  CHECK(others > w * h / 200);  // more than 0.5% of the pixels are not the background
}

}  // namespace mvc::test
