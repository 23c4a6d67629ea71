// Progress of long operations (hashing, copying, transfers, checks), with no domain knowledge:
// the code doing the work reports to a util::Progress it is given (core never prints), and the
// CLI decides what is shown. TerminalProgress draws one line on a terminal, redrawn in place
// with "\r" at most every 100 ms: the bytes done of the total, the percentage, the rate, the
// time left and, when there are several files, which one; finish() replaces it with one
// summary line.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace mvc::util {

/// "1.2 MiB" (binary units; bytes below 1 KiB as "123 B").
std::string human_bytes(std::uint64_t n);
/// "2 s", "3 min 05 s", "1 h 02 min".
std::string human_duration(double seconds);

/// A sink for progress reports; every method may be called from several threads at once.
/// The base class ignores everything (no_progress()).
class Progress {
 public:
  virtual ~Progress() = default;
  /// Announces the work, or its next phase: `total_bytes` (0 = unknown) over `total_items`
  /// files or objects. The percentage is of the phase; the summary counts every phase.
  virtual void start(std::uint64_t total_bytes, std::size_t total_items) {
    (void)total_bytes;
    (void)total_items;
  }
  /// File or object `name` begins.
  virtual void item(std::string_view name) { (void)name; }
  /// `bytes` more are done.
  virtual void advance(std::uint64_t bytes) { (void)bytes; }
  /// One file or object is done (whether bytes were reported for it or not).
  virtual void item_done() {}
  /// A step whose progress cannot be measured begins ("rebuilding models/clf in LibTorch"):
  /// shown until the next report or the end, with the time it has taken so far.
  virtual void phase(std::string_view what) { (void)what; }
};

/// A Progress that reports nowhere.
Progress& no_progress();

/// Reports `done`-so-far totals of one file to `p` as deltas: for callbacks that give the bytes
/// done so far (util::sha256_stream's `progress`).
class ProgressDelta {
 public:
  explicit ProgressDelta(Progress& p) : p_(p) {}
  void operator()(std::uint64_t so_far) {
    if (so_far > last_) p_.advance(so_far - last_);
    last_ = so_far;
  }

 private:
  Progress& p_;
  std::uint64_t last_ = 0;
};

/// The line on a terminal, written to `out` (stderr). `label` starts every line ("commit").
class TerminalProgress : public Progress {
 public:
  TerminalProgress(std::FILE* out, std::string label);
  ~TerminalProgress() override;
  void start(std::uint64_t total_bytes, std::size_t total_items) override;
  void item(std::string_view name) override;
  void advance(std::uint64_t bytes) override;
  void item_done() override;
  /// Draws "LABEL: WHAT | 2 s" at once, then redraws it every 100 ms from a thread of its own
  /// (the spinner turns and the seconds count) until the next report, finish() or abandon().
  void phase(std::string_view what) override;
  /// Replaces the line with "LABEL: 3 files, 266.0 MiB in 3.1 s (85.3 MiB/s)" and a newline
  /// (`summary`, when given, instead of the files and bytes; "LABEL: done in 0.8 s" when only a
  /// phase was shown). Only once; nothing when nothing was reported.
  void finish(const std::string& summary = {});
  /// Ends the line without a summary (on an error: the message goes below it).
  void abandon();

  /// The line for the given state (for tests): "LABEL: 45% 120.0 MiB of 266.0 MiB, 85.3 MiB/s,
  /// 2 s left, 2/3 weights.safetensors".
  static std::string render(const std::string& label, std::uint64_t done, std::uint64_t total, double seconds,
                            std::size_t items_done, std::size_t items, const std::string& name);

 private:
  void draw(bool force);  // with m_ held
  void stop_ticker();     // without m_ held

  std::FILE* out_;
  std::string label_;
  std::mutex m_;
  std::chrono::steady_clock::time_point begin_, last_draw_;
  std::uint64_t total_ = 0, done_ = 0, sum_ = 0;  // the phase's total and done; done over every phase
  std::size_t items_ = 0, items_done_ = 0, items_sum_ = 0;
  std::string name_;
  std::size_t drawn_width_ = 0;
  bool drawn_ = false, reported_ = false, finished_ = false, started_ = false;
  std::string phase_;  // "" = none
  std::chrono::steady_clock::time_point phase_begin_;
  unsigned spin_ = 0;
  std::thread ticker_;
  std::condition_variable tick_;
  bool stop_ = false;
};

}  // namespace mvc::util
