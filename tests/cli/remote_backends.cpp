#include "cli/remote_backends.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <sstream>

namespace mvc::test {

// ---------------------------------------------------------------------------------------------
// FaultProxy

namespace {

bool send_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// Waits up to 50 ms for `fd` to be readable; reads into `buf`. Returns bytes read, 0 at EOF,
/// -1 on error, -2 when nothing arrived yet.
ssize_t read_some(int fd, char* buf, std::size_t n) {
  pollfd p{fd, POLLIN, 0};
  int r = ::poll(&p, 1, 50);
  if (r == 0) return -2;
  if (r < 0) return errno == EINTR ? -2 : -1;
  ssize_t got = ::recv(fd, buf, n, 0);
  if (got < 0 && (errno == EINTR || errno == EAGAIN)) return -2;
  return got;
}

std::size_t content_length(const std::string& head) {
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  auto p = lower.find("\r\ncontent-length:");
  if (p == std::string::npos) return 0;
  return std::stoull(lower.substr(p + 17));
}

}  // namespace

FaultProxy::FaultProxy(int upstream_port) : upstream_(upstream_port) {
  listen_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_, 64) != 0)
    throw std::runtime_error("proxy: cannot listen on loopback");
  socklen_t len = sizeof a;
  ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FaultProxy::~FaultProxy() {
  stop_ = true;
  acceptor_.join();
  ::close(listen_);
  std::vector<std::thread> conns;
  {
    std::lock_guard<std::mutex> l(m_);
    conns.swap(conns_);
  }
  for (auto& t : conns) t.join();
}

void FaultProxy::add(Rule r) {
  std::lock_guard<std::mutex> l(m_);
  rules_.push_back(std::move(r));
}

void FaultProxy::clear() {
  std::lock_guard<std::mutex> l(m_);
  rules_.clear();
  ++generation_;
}

std::vector<std::string> FaultProxy::seen() const {
  std::lock_guard<std::mutex> l(m_);
  return seen_;
}

void FaultProxy::accept_loop() {
  while (!stop_) {
    pollfd p{listen_, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    int c = ::accept4(listen_, nullptr, nullptr, SOCK_CLOEXEC);
    if (c < 0) continue;
    std::lock_guard<std::mutex> l(m_);
    conns_.emplace_back([this, c] {
      serve(c);
      ::close(c);
    });
  }
}

void FaultProxy::serve(int client) {
  // The request's head (up to the blank line), and whatever body bytes came with it.
  std::string buf;
  char chunk[65536];
  std::size_t head_end;
  while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
    if (stop_ || buf.size() > (1 << 20)) return;
    ssize_t n = read_some(client, chunk, sizeof chunk);
    if (n == -2) continue;
    if (n <= 0) return;
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  std::string head = buf.substr(0, head_end + 4);
  std::string line = head.substr(0, head.find("\r\n"));
  Rule rule;
  bool matched = false;
  unsigned generation = generation_;
  {
    std::lock_guard<std::mutex> l(m_);
    seen_.push_back(line);
    for (Rule& r : rules_) {
      if (r.times == 0 || line.find(r.match) == std::string::npos) continue;
      if (!r.method.empty() && line.rfind(r.method + " ", 0) != 0) continue;
      if (r.times > 0) --r.times;
      rule = r;
      matched = true;
      break;
    }
  }
  auto drain_body = [&] {
    std::size_t want = content_length(head), have = buf.size() - head.size();
    while (have < want && !stop_) {
      ssize_t n = read_some(client, chunk, sizeof chunk);
      if (n == -2) continue;
      if (n <= 0) return;
      have += static_cast<std::size_t>(n);
    }
  };
  if (matched && rule.action == Action::drop) return;
  if (matched && rule.action == Action::http500) {
    drain_body();
    std::string body = "<Error><Code>InternalError</Code><Message>injected by the test proxy</Message></Error>";
    std::string resp = "HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/xml\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    send_all(client, resp.data(), resp.size());
    return;
  }
  if (matched && rule.action == Action::respond) {
    drain_body();
    std::string resp = rule.respond(head);
    send_all(client, resp.data(), resp.size());
    return;
  }

  int up = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(upstream_));
  if (::connect(up, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(up);
    return;
  }
  bool stall = matched && rule.action == Action::stall;
  std::size_t budget = stall ? rule.stall_after : SIZE_MAX;  // request bytes still to forward
  bool holding = false;
  auto forward = [&](const char* p, std::size_t n) {
    std::size_t take = std::min(n, budget);
    if (stall) budget -= take;
    return send_all(up, p, take);
  };
  if (!forward(buf.data(), buf.size())) {
    ::close(up);
    return;
  }
  for (;;) {
    if (stop_) break;
    if (stall && budget == 0 && !holding) {
      holding = true;
      ++held_;
    }
    if (holding) {
      if (generation_ != generation) break;  // released: close both sides
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      // Notice the client going away (killed) without reading its request any further.
      pollfd p{client, POLLRDHUP, 0};
      if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR))) break;
      continue;
    }
    pollfd p[2] = {{client, POLLIN, 0}, {up, POLLIN, 0}};
    int r = ::poll(p, 2, 50);
    if (r < 0 && errno != EINTR) break;
    if (r <= 0) continue;
    if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(client, chunk, sizeof chunk, 0);
      if (n <= 0 || !forward(chunk, static_cast<std::size_t>(n))) break;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = ::recv(up, chunk, sizeof chunk, 0);
      if (n <= 0 || !send_all(client, chunk, static_cast<std::size_t>(n))) break;
    }
  }
  if (holding) --held_;
  ::close(up);
}

// ---------------------------------------------------------------------------------------------
// Backends

namespace {

const char* kBucket = "mvc-test";
const char* kPrefix = "team/models";

std::string key_of(const std::string& sha) {
  return std::string(kPrefix) + "/objects/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2);
}

/// A folder on the local disk, with a space in its name.
class FolderBackend : public RemoteBackendFixture {
 public:
  std::string name() const override { return "folder"; }
  std::string url() const override { return root_.string(); }
  void configure(const fs::path& repo, const std::string& remote, const std::string& extra) const override {
    if (!extra.empty()) write_file(repo / ".mvc/config.local.toml", "[remote." + remote + "]\n" + extra);
  }
  store::RemoteSpec spec(const std::map<std::string, std::string>& options) const override {
    return store::RemoteSpec{"origin", url(), options, {}};
  }
  // Large enough that the copy is still being written when the poll sees its temp file.
  std::uint64_t interrupt_size() const override { return 96ull << 20; }
  std::vector<std::string> stored() const override {
    std::vector<std::string> out;
    std::error_code ec;
    for (auto it = fs::recursive_directory_iterator(root_ / "objects/sha256", ec);
         !ec && it != fs::recursive_directory_iterator(); it.increment(ec))
      if (it->is_regular_file())
        out.push_back(it->path().parent_path().filename().string() + it->path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }
  void overwrite(const std::string& sha, const std::string& bytes) override {
    fs::path p = root_ / "objects/sha256" / sha.substr(0, 2) / sha.substr(2);
    fs::permissions(p, fs::perms::owner_write, fs::perm_options::add);
    write_file(p, bytes);
  }
  std::size_t leftovers() const override {
    std::size_t n = 0;
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_ / "tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      ++n;
    return n;
  }
  bool uploading(const std::string& sha) const override {
    std::error_code ec;
    for (auto it = fs::directory_iterator(root_ / "tmp", ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      if (it->path().filename().string().rfind(sha.substr(0, 16), 0) == 0 && it->file_size(ec) > 0) return true;
    return false;
  }

 private:
  TempDir dir_;
  fs::path root_ = dir_.path() / "remote store";
};

/// s3rver on loopback, reached through a FaultProxy; s3rver's own files show the multipart
/// uploads begun (<bucket>/._S3rver_uploads/<id>/). s3rver implements neither
/// AbortMultipartUpload nor ListMultipartUploads, so the proxy answers them from s3rver's files
/// as S3 would: an abort always (removing the upload), the listing after release_and_age()
/// (the uploads dated two days back).
class S3Backend : public RemoteBackendFixture {
 public:
  std::string name() const override { return "s3"; }
  std::string url() const override { return std::string("s3://") + kBucket + "/" + kPrefix; }
  void configure(const fs::path& repo, const std::string& remote, const std::string& extra) const override {
    write_file(repo / ".mvc/config.local.toml", "[remote." + remote + "]\nendpoint_url = \"" + proxy_.endpoint() +
                                                    "\"\naccess_key_id = \"S3RVER\"\nsecret_access_key = \"S3RVER\"\n" +
                                                    extra);
  }
  store::RemoteSpec spec(const std::map<std::string, std::string>& options) const override {
    store::RemoteSpec s{"origin", url(), options, {}};
    s.options["endpoint_url"] = proxy_.endpoint();
    s.options["access_key_id"] = "S3RVER";
    s.options["secret_access_key"] = "S3RVER";
    return s;
  }
  std::string large_toml() const override { return "multipart_threshold = 6291456\npart_size = 5242880\n"; }
  std::map<std::string, std::string> large_options() const override {
    return {{"multipart_threshold", "6291456"}, {"part_size", "5242880"}};
  }
  std::uint64_t interrupt_size() const override { return 16ull << 20; }
  std::vector<std::string> stored() const override {
    RunResult r = s3_client({"list", s3_.endpoint(), kBucket, std::string(kPrefix) + "/"});
    REQUIRE(r.exit_code == 0);
    std::vector<std::string> out;
    std::istringstream in(r.out);
    std::string pfx = std::string(kPrefix) + "/objects/sha256/";
    for (std::string k; std::getline(in, k);)
      if (k.rfind(pfx, 0) == 0 && k.size() == pfx.size() + 65)
        out.push_back(k.substr(pfx.size(), 2) + k.substr(pfx.size() + 3));
    std::sort(out.begin(), out.end());
    return out;
  }
  void overwrite(const std::string& sha, const std::string& bytes) override {
    TempDir d;
    write_file(d / "obj", bytes);
    RunResult r = s3_client({"put", s3_.endpoint(), kBucket, key_of(sha), (d / "obj").string()});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  std::size_t leftovers() const override { return uploads().size(); }
  void hold_uploads() override {
    // Every PUT (a whole object or a part) stops after its first MiB.
    proxy_.add({"", "PUT", -1, FaultProxy::Action::stall, {}, 1u << 20});
  }
  bool uploading(const std::string& sha) const override {
    if (proxy_.held() == 0) return false;
    for (auto& line : proxy_.seen())
      if (line.find(key_of(sha)) != std::string::npos && line.rfind("PUT ", 0) == 0) return true;
    return false;
  }
  S3Backend() { install_abort_stub(); }
  void release_and_age() override {
    proxy_.clear();
    // mvc sorts its query: "GET /bucket?prefix=...&uploads= HTTP/1.1".
    proxy_.add({"&uploads=", "GET", -1, FaultProxy::Action::respond,
                [this](const std::string&) {
                  std::string xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListMultipartUploadsResult><Bucket>" +
                                    std::string(kBucket) + "</Bucket>";
                  for (auto& [id, key] : uploads())
                    xml += "<Upload><Key>" + key + "</Key><UploadId>" + id + "</UploadId><Initiated>" + two_days_ago() +
                           "</Initiated></Upload>";
                  xml += "<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>";
                  return "HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: " +
                         std::to_string(xml.size()) + "\r\nConnection: close\r\n\r\n" + xml;
                },
                0});
    install_abort_stub();
  }
  FaultProxy* proxy() override { return &proxy_; }

 private:
  void install_abort_stub() {
    proxy_.add({"?uploadId=", "DELETE", -1, FaultProxy::Action::respond,
                [this](const std::string& head) {
                  std::string line = head.substr(0, head.find(' ', 7));
                  std::string id = line.substr(line.find("uploadId=") + 9);
                  std::error_code ec;
                  fs::remove_all(uploads_dir() / id, ec);
                  return std::string("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                },
                0});
  }
  fs::path uploads_dir() const { return s3_.data_dir() / kBucket / "._S3rver_uploads"; }
  /// Upload id -> key of every multipart upload begun and neither completed nor aborted.
  std::map<std::string, std::string> uploads() const {
    std::map<std::string, std::string> out;
    std::error_code ec;
    for (auto it = fs::directory_iterator(uploads_dir(), ec); !ec && it != fs::directory_iterator(); it.increment(ec))
      out[it->path().filename().string()] = fs::exists(it->path() / "key") ? read_file(it->path() / "key") : "";
    return out;
  }
  static std::string two_days_ago() {
    std::time_t t = std::time(nullptr) - 2 * 86400;
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S.000Z", std::gmtime(&t));
    return buf;
  }
  S3Server s3_;
  mutable FaultProxy proxy_{s3_.port()};
};

}  // namespace

std::vector<std::string> backend_names() { return {"folder", "s3"}; }

std::unique_ptr<RemoteBackendFixture> make_backend(const std::string& name) {
  if (name == "folder") return std::make_unique<FolderBackend>();
  if (name == "s3") return s3rver_usable() ? std::make_unique<S3Backend>() : nullptr;
  FAIL("unknown backend " << name);
  return nullptr;
}

}  // namespace mvc::test
