#include "core/remote_lock.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "mvc/error.h"
#include "util/fs.h"
#include "util/lock.h"

namespace mvc::core {

namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string utc(std::int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  ::gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

const std::int64_t kTtl = std::chrono::duration_cast<std::chrono::seconds>(kRemoteLockTtl).count();

}  // namespace

std::string RemoteLockInfo::describe() const {
  if (!parsed) return key + " (not a lock this mvc reads; counts until " + utc(expires) + ")";
  return std::string(exclusive ? "exclusive" : "shared") + " lock of " + (command.empty() ? "?" : command) + " (pid " +
         std::to_string(pid) + " on host " + host + ", since " + utc(created) + ", expires " + utc(expires) + ")";
}

bool RemoteLockInfo::stale(std::int64_t now) const {
  if (expires <= now) return true;
  return parsed && util::known_dead(pid, host);
}

std::vector<RemoteLockInfo> remote_locks(store::Remote& remote) {
  std::vector<RemoteLockInfo> out;
  for (const store::RemoteEntry& e : remote.list_entries("locks/")) {
    RemoteLockInfo l;
    l.key = e.key;
    std::int64_t written = std::chrono::duration_cast<std::chrono::seconds>(e.modified.time_since_epoch()).count();
    l.created = written;
    l.expires = written + kTtl;
    std::optional<std::string> text;
    try {
      text = remote.get_key(e.key);
    } catch (const Error&) {
      continue;  // e.g. an invalid key name: not mvc's
    }
    if (!text) continue;  // removed since listed
    try {
      auto j = nlohmann::json::parse(*text);
      std::string kind = j.at("kind").get<std::string>();
      if (kind != "shared" && kind != "exclusive") throw std::runtime_error("kind");
      l.exclusive = kind == "exclusive";
      l.command = j.value("command", "");
      l.host = j.at("host").get<std::string>();
      l.pid = j.at("pid").get<long>();
      l.created = j.at("created").get<std::int64_t>();
      l.expires = j.at("expires").get<std::int64_t>();
      l.parsed = true;
    } catch (const std::exception&) {
      // Unreadable: live until written + TTL (kept from above).
    }
    out.push_back(std::move(l));
  }
  std::sort(out.begin(), out.end(), [](auto& a, auto& b) { return a.key < b.key; });
  return out;
}

std::chrono::milliseconds remote_lock_wait() {
  if (const char* v = std::getenv("MVC_LOCK_TIMEOUT"); v && *v) return util::default_lock_timeout();
  return std::chrono::minutes(10);
}

RemoteLock::RemoteLock(store::Remote& remote, Kind kind, std::string command, std::chrono::milliseconds wait,
                       const std::function<void(const std::string&)>& on_wait)
    : remote_(remote), kind_(kind), command_(std::move(command)) {
  key_ = "locks/" + util::random_hex(16) + ".json";
  auto deadline = std::chrono::steady_clock::now() + wait;
  auto pause = std::chrono::milliseconds(100);
  bool told = false;
  for (;;) {
    // Look first (no need to write while gc is running), then write, then look again: of two
    // clients writing at once, each sees the other's lock in its second look.
    std::vector<RemoteLockInfo> in_way = conflicts();
    if (in_way.empty()) {
      created_ = now_seconds();
      remote_.put_key(key_, text(created_));
      held_ = true;
      try {
        in_way = conflicts();
      } catch (...) {
        release();  // not left behind to block others until it expires
        throw;
      }
      if (in_way.empty()) break;
      remote_.remove_key(key_);
      held_ = false;
    }
    if (kind_ == Kind::exclusive || std::chrono::steady_clock::now() >= deadline)
      throw Error(
          Exit::lock,
          "remote " + remote_.describe() + ": locked by another client's " + in_way.front().describe() +
              (kind_ == Kind::exclusive ? "; try again when it is done" : "; gave up waiting (MVC_LOCK_TIMEOUT)"));
    if (!told && on_wait) on_wait(in_way.front().describe());
    told = true;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
  refresher_ = std::thread([this] {
    std::unique_lock<std::mutex> l(m_);
    while (!cv_.wait_for(l, kRemoteLockTtl / 3, [this] { return stop_; })) {
      try {
        remote_.put_key(key_, text(created_));
      } catch (...) {
        // The next refresh tries again; a lock that could not be refreshed expires.
      }
    }
  });
}

RemoteLock::~RemoteLock() { release(); }

void RemoteLock::release() noexcept {
  if (refresher_.joinable()) {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    refresher_.join();
  }
  if (!held_) return;
  held_ = false;
  try {
    remote_.remove_key(key_);
  } catch (...) {
    // It expires.
  }
}

std::string RemoteLock::text(std::int64_t created) const {
  nlohmann::ordered_json j = {{"kind", kind_ == Kind::exclusive ? "exclusive" : "shared"},
                              {"command", command_},
                              {"host", util::host_name()},
                              {"pid", static_cast<long>(::getpid())},
                              {"created", created},
                              {"expires", now_seconds() + kTtl}};
  return j.dump() + "\n";
}

std::vector<RemoteLockInfo> RemoteLock::conflicts() {
  std::vector<RemoteLockInfo> out;
  std::int64_t now = now_seconds();
  for (RemoteLockInfo& l : remote_locks(remote_)) {
    if (l.key == key_) continue;
    if (l.stale(now)) {
      try {
        remote_.remove_key(l.key);
        ++stale_removed_;
      } catch (...) {
      }
      continue;
    }
    if (kind_ == Kind::exclusive || !l.parsed || l.exclusive) out.push_back(std::move(l));
  }
  return out;
}

}  // namespace mvc::core
