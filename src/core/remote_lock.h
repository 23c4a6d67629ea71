// Lock objects on a remote (docs/repository-format.md, "Remote locks"), after restic's: `mvc gc
// --remote` holds an exclusive lock while it decides and deletes; push and fetch hold shared
// ones while they look and transfer. A lock is a small JSON object `locks/<16 hex>.json`:
//
//   {"kind": "shared"|"exclusive", "command": "push", "host": "...", "pid": 123,
//    "created": <unix seconds>, "expires": <unix seconds>}
//
// A holder rewrites its lock (a later "expires") every kRemoteLockTtl / 3, so a lock whose
// "expires" has passed belongs to a client that crashed or lost the network: it is ignored, and
// removed by whoever sees it. A lock of this host whose process is dead is ignored too. A lock
// object that does not parse counts as live until kRemoteLockTtl after it was written.
// Taking a lock is: write one's own, then list the locks; if a conflicting live one is there,
// remove one's own again (so of two clients racing, at least one backs off, both if need be).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/remote.h"

namespace mvc::core {

/// How long a lock lives unless refreshed.
inline constexpr std::chrono::minutes kRemoteLockTtl{30};

/// A lock object found on a remote.
struct RemoteLockInfo {
  std::string key;  ///< "locks/<id>.json"
  bool exclusive = false;
  std::string command, host;
  long pid = 0;
  std::int64_t created = 0, expires = 0;  ///< unix seconds
  bool parsed = false;                    ///< false: not a lock mvc can read (live until written + TTL)
  /// "exclusive lock of gc (pid 12 on host h, since 2026-12-01 19:00:00 UTC, expires ...)"
  std::string describe() const;
  /// Expired, or of this host and its process is dead.
  bool stale(std::int64_t now) const;
};

/// Every lock object on `remote`. Throws Exit::failure.
std::vector<RemoteLockInfo> remote_locks(store::Remote& remote);

/// How long push and fetch wait for another client's exclusive lock: $MVC_LOCK_TIMEOUT
/// (seconds) when set, else 10 minutes.
std::chrono::milliseconds remote_lock_wait();

class RemoteLock {
 public:
  enum class Kind { shared, exclusive };
  /// Takes a lock of `kind` on `remote` for `command` ("push", "gc"). Stale locks seen are
  /// removed (best effort). Exclusive: throws Exit::lock naming the other lock when any live
  /// lock of another client is there. Shared: waits while a live exclusive lock is there,
  /// calling `on_wait` once with its description, up to `wait`, then throws Exit::lock.
  /// Throws Exit::failure when the lock object cannot be written.
  RemoteLock(store::Remote& remote, Kind kind, std::string command, std::chrono::milliseconds wait = remote_lock_wait(),
             const std::function<void(const std::string&)>& on_wait = {});
  ~RemoteLock();  ///< release()
  RemoteLock(const RemoteLock&) = delete;
  RemoteLock& operator=(const RemoteLock&) = delete;
  /// Stops refreshing and removes the lock object (best effort, never throws).
  void release() noexcept;
  const std::string& key() const { return key_; }
  /// Stale locks of others removed while taking this one.
  std::size_t stale_removed() const { return stale_removed_; }

 private:
  std::string text(std::int64_t now) const;
  /// The live locks of others that conflict with a lock of `kind_`; removes stale ones.
  std::vector<RemoteLockInfo> conflicts();
  store::Remote& remote_;
  Kind kind_;
  std::string command_, key_;
  std::int64_t created_ = 0;
  std::size_t stale_removed_ = 0;
  bool held_ = false;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread refresher_;
};

}  // namespace mvc::core
