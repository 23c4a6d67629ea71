// The remote backends the conformance suite (test_remote_conformance.cpp) runs against, each
// behind one interface, plus a fault-injecting HTTP proxy on loopback. A new backend is one
// RemoteBackendFixture subclass here and one line in backend_names()/make_backend().
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "cli/remote_support.h"
#include "store/remote.h"

namespace mvc::test {

/// A TCP proxy on 127.0.0.1 in front of an HTTP server on 127.0.0.1:`upstream_port`. Each
/// connection carries one request (mvc's libcurl handles are not reused). Rules pick requests
/// by a substring of their request line ("PUT /bucket/key?partNumber=1 HTTP/1.1") and drop
/// them, answer 500, answer from a stub, or forward only the first bytes of their body and then
/// hold the connection (a stalled upload). Everything else is forwarded unchanged.
class FaultProxy {
 public:
  enum class Action { drop, http500, respond, stall };
  struct Rule {
    std::string match;   ///< substring of the request line; "" = every request
    std::string method;  ///< and its method ("PUT"); "" = any
    int times = -1;      ///< how many matching requests it applies to; -1 = all
    Action action = Action::http500;
    /// Action::respond: the whole HTTP response for the request's head (request line and headers).
    std::function<std::string(const std::string& head)> respond;
    std::size_t stall_after = 0;  ///< Action::stall: request bytes (head and body) forwarded before holding
  };

  explicit FaultProxy(int upstream_port);
  ~FaultProxy();
  FaultProxy(const FaultProxy&) = delete;
  FaultProxy& operator=(const FaultProxy&) = delete;

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void add(Rule r);
  /// Drops every rule and lets held connections go (they are closed).
  void clear();
  /// Request lines seen, in arrival order.
  std::vector<std::string> seen() const;
  /// Requests now held by a stall rule.
  int held() const { return held_; }

 private:
  void accept_loop();
  void serve(int client);
  int listen_ = -1, port_ = 0, upstream_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> held_{0};
  std::atomic<unsigned> generation_{0};  ///< bumped by clear(): held connections of older ones close
  mutable std::mutex m_;
  std::vector<Rule> rules_;
  std::vector<std::string> seen_;
  std::vector<std::thread> conns_;
  std::thread acceptor_;
};

/// One kind of remote, set up for a test: where it is, how mvc is configured for it, and a way
/// to look at and damage what it stores that does not go through mvc's code.
class RemoteBackendFixture {
 public:
  virtual ~RemoteBackendFixture() = default;
  virtual std::string name() const = 0;
  /// The URL for `mvc remote add`.
  virtual std::string url() const = 0;
  /// Writes `repo`'s .mvc/config.local.toml for remote `remote`, plus `extra` TOML lines.
  virtual void configure(const fs::path& repo, const std::string& remote, const std::string& extra = "") const = 0;
  /// A spec for store::open_remote, with `options` added.
  virtual store::RemoteSpec spec(const std::map<std::string, std::string>& options = {}) const = 0;
  /// Options (TOML lines and spec options) under which a `large_size()` object takes the
  /// backend's chunked path (S3: multipart in 5 MiB parts); none for a folder.
  virtual std::string large_toml() const { return ""; }
  virtual std::map<std::string, std::string> large_options() const { return {}; }
  /// Size of the object the interruption test kills a push in the middle of.
  virtual std::uint64_t interrupt_size() const = 0;
  /// Names of the objects stored, sorted, read without mvc's code.
  virtual std::vector<std::string> stored() const = 0;
  /// Replaces the stored bytes of object `sha` behind mvc's back.
  virtual void overwrite(const std::string& sha, const std::string& bytes) = 0;
  /// Leftovers of interrupted uploads (folder temp files, S3 multipart uploads begun).
  virtual std::size_t leftovers() const = 0;
  /// Makes the next uploads stop half-way and hang (where the backend can: else no-op).
  virtual void hold_uploads() {}
  /// True when an upload of `sha` is under way (and, after hold_uploads(), hanging).
  virtual bool uploading(const std::string& sha) const = 0;
  /// Ends hold_uploads(); makes the leftovers there are look older than store::kStaleUploadAge
  /// to the backend where their age is what it judges by.
  virtual void release_and_age() {}
  /// The proxy mvc's requests go through, or nullptr (a folder has no network to fault).
  virtual FaultProxy* proxy() { return nullptr; }
};

/// Every backend the suite covers ("folder", "s3").
std::vector<std::string> backend_names();
/// Sets up backend `name`; nullptr (with a warning) when it cannot run here -- outside CI
/// (where $CI is set, a missing s3rver fails the test instead).
std::unique_ptr<RemoteBackendFixture> make_backend(const std::string& name);

/// In a Catch2 TEST_CASE: runs the rest of the case once per backend of backend_names()
/// (GENERATE), with `fx` the backend's fixture; a backend that cannot run here returns early.
#define FOR_EACH_BACKEND(fx)                                                     \
  std::string backend_name = GENERATE(from_range(backend_names()));              \
  INFO("backend: " << backend_name);                                             \
  std::unique_ptr<RemoteBackendFixture> fx##_owner = make_backend(backend_name); \
  if (!fx##_owner) return;                                                       \
  RemoteBackendFixture& fx = *fx##_owner

}  // namespace mvc::test
