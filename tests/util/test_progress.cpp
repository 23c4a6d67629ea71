// The progress line's text, and a terminal progress drawn into a file (no terminal needed).
#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "util/progress.h"

using namespace mvc::util;

TEST_CASE("progress line: percent, bytes, rate, time left and the file", "[util][progress]") {
  CHECK(human_bytes(512) == "512 B");
  CHECK(human_bytes(3 * 1024 * 1024 / 2) == "1.5 MiB");
  CHECK(human_duration(2.4) == "2 s");
  CHECK(human_duration(185) == "3 min 05 s");
  CHECK(TerminalProgress::render("commit", 50 << 20, 200 << 20, 2.0, 1, 3, "models/a/weights.safetensors") ==
        "commit: 25% 50.0 MiB of 200.0 MiB, 25.0 MiB/s, 6 s left, 2/3 models/a/weights.safetensors");
  CHECK(TerminalProgress::render("fetch", 1024, 0, 0, 0, 1, "") == "fetch: 1.0 KiB");
  CHECK(TerminalProgress::render("fsck", 10, 5, 1.0, 1, 1, "") == "fsck: 100% 5 B of 5 B, 10 B/s");
}

TEST_CASE("terminal progress: first report drawn at once, a summary line at the end", "[util][progress]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    TerminalProgress p(f, "checkout");
    p.start(2048, 2);
    p.item("a.safetensors");
    p.advance(1024);
    p.item_done();
    p.item("b.safetensors");
    p.advance(1024);
    p.item_done();
    p.finish();
    p.finish();  // once only
  }
  std::rewind(f);
  std::string out;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  std::fclose(f);
  CHECK(out.rfind("\rcheckout: 50% 1.0 KiB of 2.0 KiB", 0) == 0);
  CHECK(out.find("1/2 a.safetensors") != std::string::npos);
  CHECK(out.find("\rcheckout: 2 files, 2.0 KiB in ") != std::string::npos);
  CHECK(out.back() == '\n');
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  // Nothing reported: nothing drawn, no summary.
  std::FILE* g = std::tmpfile();
  {
    TerminalProgress p(g, "gc");
    p.finish();
  }
  CHECK(std::ftell(g) == 0);
  std::fclose(g);
}

TEST_CASE("terminal progress: a phase line turns and counts until the summary", "[util][progress]") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    TerminalProgress p(f, "run");
    p.phase("rebuilding models/clf in LibTorch");
    std::this_thread::sleep_for(std::chrono::milliseconds(350));  // the ticker redraws meanwhile
    p.finish();
  }
  std::rewind(f);
  std::string out;
  char buf[512];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  std::fclose(f);
  CHECK(out.rfind("\rrun: rebuilding models/clf in LibTorch | 0 s", 0) == 0);
  CHECK(out.find("\rrun: rebuilding models/clf in LibTorch / 0 s") != std::string::npos);  // redrawn, turned
  CHECK(out.find("\rrun: done in 0.") != std::string::npos);
  CHECK(out.back() == '\n');
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}
