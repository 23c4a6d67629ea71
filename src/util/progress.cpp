#include "util/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

namespace mvc::util {

namespace {
constexpr auto kRedraw = std::chrono::milliseconds(100);

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// The terminal's width, or 0 when it does not say (a pseudo-terminal without a size).
std::size_t terminal_width(std::FILE* out) {
  winsize ws{};
  if (::ioctl(::fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20) return ws.ws_col;
  return 0;
}
}  // namespace

std::string human_bytes(std::uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(n));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string human_duration(double seconds) {
  auto s = static_cast<long long>(seconds + 0.5);
  char buf[48];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%lld s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%lld min %02lld s", s / 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld h %02lld min", s / 3600, (s % 3600) / 60);
  return buf;
}

Progress& no_progress() {
  static Progress none;
  return none;
}

TerminalProgress::TerminalProgress(std::FILE* out, std::string label)
    : out_(out), label_(std::move(label)), begin_(std::chrono::steady_clock::now()) {}

TerminalProgress::~TerminalProgress() { abandon(); }

void TerminalProgress::phase(std::string_view what) {
  {
    std::lock_guard<std::mutex> l(m_);
    if (finished_) return;
    if (!started_) begin_ = std::chrono::steady_clock::now();
    started_ = true;
    phase_ = what;
    phase_begin_ = std::chrono::steady_clock::now();
    reported_ = true;
    draw(true);
    if (ticker_.joinable()) return;
  }
  ticker_ = std::thread([this] {
    std::unique_lock<std::mutex> l(m_);
    while (!stop_) {
      tick_.wait_for(l, kRedraw);
      if (!stop_ && !phase_.empty()) draw(true);
    }
  });
}

void TerminalProgress::stop_ticker() {
  {
    std::lock_guard<std::mutex> l(m_);
    stop_ = true;
  }
  tick_.notify_all();
  if (ticker_.joinable()) ticker_.join();
}

void TerminalProgress::start(std::uint64_t total_bytes, std::size_t total_items) {
  std::lock_guard<std::mutex> l(m_);
  if (!started_) begin_ = std::chrono::steady_clock::now();  // the clock runs from the work's start
  started_ = true;
  phase_.clear();
  total_ = total_bytes;
  items_ = total_items;
  done_ = 0;
  items_done_ = 0;
}

void TerminalProgress::item(std::string_view name) {
  std::lock_guard<std::mutex> l(m_);
  name_ = name;
}

void TerminalProgress::advance(std::uint64_t bytes) {
  std::lock_guard<std::mutex> l(m_);
  phase_.clear();
  done_ += bytes;
  sum_ += bytes;
  reported_ = true;
  draw(false);
}

void TerminalProgress::item_done() {
  std::lock_guard<std::mutex> l(m_);
  phase_.clear();
  ++items_done_;
  ++items_sum_;
  reported_ = true;
  draw(false);
}

std::string TerminalProgress::render(const std::string& label, std::uint64_t done, std::uint64_t total, double seconds,
                                     std::size_t items_done, std::size_t items, const std::string& name) {
  std::string line = label + ": ";
  double rate = seconds > 0 ? static_cast<double>(done) / seconds : 0;
  if (total > 0) {
    if (done > total) done = total;
    line += std::to_string(done * 100 / total) + "% " + human_bytes(done) + " of " + human_bytes(total);
  } else {
    line += human_bytes(done);
  }
  if (rate > 0) line += ", " + human_bytes(static_cast<std::uint64_t>(rate)) + "/s";
  if (total > 0 && rate > 0 && done < total)
    line += ", " + human_duration(static_cast<double>(total - done) / rate) + " left";
  if (items > 1) {
    line += ", " + std::to_string(items_done < items ? items_done + 1 : items) + "/" + std::to_string(items);
    if (!name.empty()) line += " " + name;
  } else if (!name.empty()) {
    line += ", " + name;
  }
  return line;
}

void TerminalProgress::draw(bool force) {
  if (finished_) return;
  auto now = std::chrono::steady_clock::now();
  if (!force && drawn_ && now - last_draw_ < kRedraw) return;
  last_draw_ = now;
  std::string line;
  if (!phase_.empty()) {
    static const char spinner[] = {'|', '/', '-', '\\'};
    line = label_ + ": " + phase_ + " " + spinner[spin_++ % 4] + " " + human_duration(seconds_since(phase_begin_));
  } else {
    line = render(label_, done_, total_, seconds_since(begin_), items_done_, items_, name_);
  }
  // Shorter than the terminal, so that it never wraps (a wrapped line is not redrawn by "\r").
  if (std::size_t width = terminal_width(out_); width > 0 && line.size() >= width) line.resize(width - 1);
  std::size_t pad = drawn_width_ > line.size() ? drawn_width_ - line.size() : 0;
  std::fprintf(out_, "\r%s%*s", line.c_str(), static_cast<int>(pad), "");
  std::fflush(out_);
  drawn_width_ = line.size();
  drawn_ = true;
}

void TerminalProgress::finish(const std::string& summary) {
  stop_ticker();
  std::lock_guard<std::mutex> l(m_);
  if (finished_) return;
  finished_ = true;
  if (!reported_ && summary.empty()) return;
  double secs = seconds_since(begin_);
  std::string line = label_ + ": ";
  if (!summary.empty()) {
    line += summary;
  } else if (sum_ == 0 && items_sum_ == 0) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "done in %.1f s", secs);
    line += buf;
  } else {
    if (items_sum_ > 1) line += std::to_string(items_sum_) + " files, ";
    line += human_bytes(sum_);
    char buf[64];
    std::snprintf(buf, sizeof buf, " in %.1f s", secs);
    line += buf;
    if (secs > 0 && sum_ > 0)
      line += " (" + human_bytes(static_cast<std::uint64_t>(static_cast<double>(sum_) / secs)) + "/s)";
  }
  std::size_t pad = drawn_width_ > line.size() ? drawn_width_ - line.size() : 0;
  std::fprintf(out_, "%s%s%*s\n", drawn_ ? "\r" : "", line.c_str(), static_cast<int>(pad), "");
  std::fflush(out_);
}

void TerminalProgress::abandon() {
  stop_ticker();
  std::lock_guard<std::mutex> l(m_);
  if (finished_) return;
  finished_ = true;
  if (drawn_) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
  }
}

}  // namespace mvc::util
