// The S3 remote: libcurl for HTTP(S), store/sigv4 for signing. Keys below the bucket are
// "<prefix>/objects/sha256/ab/cdef...". Transient failures (connection errors, HTTP 5xx,
// 429, RequestTimeout) are retried with exponential backoff. URLs: s3://BUCKET[/PREFIX];
// configuration keys: s3_backend() at the end of this file.
#include <curl/curl.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <tuple>

#include "mvc/error.h"
#include "store/aws_config.h"
#include "store/manifest.h"
#include "store/remote_registry.h"
#include "store/sigv4.h"
#include "util/fs.h"
#include "util/sha256.h"

namespace mvc::store {

namespace {

constexpr std::uint64_t kDefaultPart = 64ull << 20;
constexpr int kAttempts = 5;
constexpr int kPartJobs = 4;  ///< parts of one object uploaded at once

/// A failure worth retrying.
struct Transient : Error {
  using Error::Error;
};

void curl_init_once() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

std::string xml_unescape(std::string s) {
  static const std::pair<const char*, const char*> ents[] = {
      {"&quot;", "\""}, {"&apos;", "'"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}};
  for (auto& [from, to] : ents) {
    std::string f(from);
    for (std::size_t p = 0; (p = s.find(f, p)) != std::string::npos; p += std::string(to).size())
      s.replace(p, f.size(), to);
  }
  return s;
}

/// Raw (not unescaped) text of every <tag>...</tag> in `xml`, to read nested tags from.
std::vector<std::string> xml_blocks(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out;
  std::string open = "<" + tag + ">", close = "</" + tag + ">";
  for (std::size_t p = 0; (p = xml.find(open, p)) != std::string::npos;) {
    std::size_t s = p + open.size();
    std::size_t e = xml.find(close, s);
    if (e == std::string::npos) break;
    out.push_back(xml.substr(s, e - s));
    p = e + close.size();
  }
  return out;
}

/// Text of every <tag>...</tag> in `xml`, unescaped.
std::vector<std::string> xml_all(const std::string& xml, const std::string& tag) {
  std::vector<std::string> out = xml_blocks(xml, tag);
  for (auto& t : out) t = xml_unescape(t);
  return out;
}

/// "2024-05-01T12:00:00.000Z" (UTC), or nullopt.
std::optional<std::chrono::system_clock::time_point> parse_iso8601(const std::string& s) {
  std::tm tm{};
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                  &tm.tm_sec) != 6)
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return std::chrono::system_clock::from_time_t(::timegm(&tm));
}

std::string xml_first(const std::string& xml, const std::string& tag) {
  auto v = xml_all(xml, tag);
  return v.empty() ? std::string() : v[0];
}

struct Response {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lowercase names
};

struct Body {
  std::string_view data;
  std::size_t pos = 0;
};

struct Transfer {
  CURL* curl = nullptr;
  Response* resp = nullptr;
  const Sink* sink = nullptr;
  bool sink_used = false;
};

std::size_t read_cb(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* b = static_cast<Body*>(user);
  std::size_t take = std::min(size * n, b->data.size() - b->pos);
  std::memcpy(buf, b->data.data() + b->pos, take);
  b->pos += take;
  return take;
}

std::size_t write_cb(char* data, std::size_t size, std::size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  std::size_t len = size * n;
  long status = 0;
  curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
  if (t->sink && status >= 200 && status < 300) {
    try {
      (*t->sink)(data, len);
      t->sink_used = true;
    } catch (...) {
      return 0;  // abort the transfer; the caller re-raises
    }
  } else if (t->resp->body.size() < (1 << 20)) {
    t->resp->body.append(data, len);
  }
  return len;
}

std::size_t header_cb(char* data, std::size_t size, std::size_t n, void* user) {
  auto* r = static_cast<Response*>(user);
  std::string line(data, size * n);
  auto colon = line.find(':');
  if (colon != std::string::npos) {
    std::string k = line.substr(0, colon);
    for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
    while (!v.empty() && (v.back() == '\r' || v.back() == '\n' || v.back() == ' ')) v.pop_back();
    r->headers[k] = v;
  }
  return size * n;
}

class S3Remote : public Remote {
 public:
  explicit S3Remote(const RemoteSpec& spec) : spec_(spec) {
    curl_init_once();
    std::string rest = spec.url.substr(5);
    auto slash = rest.find('/');
    bucket_ = rest.substr(0, slash);
    prefix_ = slash == std::string::npos ? "" : rest.substr(slash + 1);
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
    aws::Resolved res = aws::resolve(spec.name, spec.options, aws::process_env());
    region_ = res.region;
    std::string endpoint = res.endpoint_url;
    const std::string& addressing = spec.option("addressing");
    path_style_ = addressing.empty() ? !endpoint.empty() : addressing == "path";
    aws_endpoint_ = endpoint.empty();
    if (aws_endpoint_) endpoint = aws_endpoint(region_);
    auto sep = endpoint.find("://");
    if (sep == std::string::npos)
      throw Error(Exit::failure, "remote " + spec.name + ": endpoint_url '" + endpoint + "' (" + res.endpoint_source +
                                     ") needs a scheme (http:// or https://)");
    scheme_ = endpoint.substr(0, sep);
    set_host(endpoint.substr(sep + 3));
    base_path_ = path_style_ ? "/" + bucket_ + "/" : "/";
    creds_ = res.credentials;
    std::uint64_t part = spec.size_option("part_size"), threshold = spec.size_option("multipart_threshold");
    part_size_ = part ? part : kDefaultPart;
    threshold_ = threshold ? threshold : kDefaultPart;
  }

  std::string describe() const override { return spec_.name + " (" + spec_.url + ")"; }

  std::optional<std::uint64_t> stat(const std::string& sha) override {
    std::string key = full_key(sha);
    Response r = with_retries("HEAD " + key, [&] { return request("HEAD", key, {}, {}, nullptr); });
    if (r.status == 404) return std::nullopt;
    if (r.status != 200) fail("HEAD", key, r);
    auto it = r.headers.find("content-length");
    return it == r.headers.end() ? 0 : std::stoull(it->second);
  }

  void put(const std::string& sha, const fs::path& src, std::uint64_t size) override {
    put_reporting(sha, src, size, {});
  }

  /// A single PUT reports its size when done; a multipart upload each part as it completes.
  void put_reporting(const std::string& sha, const fs::path& src, std::uint64_t size, const Sent& sent) override {
    if (size > threshold_) return put_multipart(sha, src, size, sent);
    std::string bytes = read_range(src, 0, size);
    check_hash(sha, bytes, src, size);
    std::string key = full_key(sha);
    Response r = with_retries("PUT " + key, [&] { return request("PUT", key, {}, bytes, nullptr, sha); });
    if (r.status != 200) fail("PUT", key, r);
    if (sent) sent(size);
  }

  void get(const std::string& sha, const Sink& sink, const std::function<void()>& restart) override {
    std::string key = full_key(sha);
    bool first = true;
    Response r = with_retries("GET " + key, [&] {
      if (!first && restart) restart();
      first = false;
      return request("GET", key, {}, {}, &sink);
    });
    if (r.status == 404) throw Error(Exit::missing, "object " + sha + " is not on remote " + describe());
    if (r.status != 200) fail("GET", key, r);
  }

  std::vector<std::string> list() override {
    std::vector<std::string> out;
    const std::string pfx = "objects/sha256/";
    for (const RemoteEntry& e : list_entries(pfx)) {
      std::string rest = e.key.substr(pfx.size());  // "ab/cdef..."
      if (rest.size() != 65 || rest[2] != '/') continue;
      std::string name = rest.substr(0, 2) + rest.substr(3);
      if (util::is_sha256_hex(name)) out.push_back(name);
    }
    return out;
  }

  std::optional<std::string> get_manifest(const std::string& sha) override { return get_key(manifest_key(sha)); }

  void put_manifest(const std::string& sha, const std::string& text) override { put_key(manifest_key(sha), text); }

  std::vector<RemoteEntry> list_entries(const std::string& prefix) override {
    std::vector<RemoteEntry> out;
    std::string root = prefix_.empty() ? "" : prefix_ + "/";
    std::string pfx = root + prefix;
    std::string token;
    for (;;) {
      std::map<std::string, std::string> q{{"list-type", "2"}, {"prefix", pfx}};
      if (!token.empty()) q["continuation-token"] = token;
      Response r = with_retries("LIST " + pfx, [&] { return request("GET", "", q, {}, nullptr); });
      if (r.status != 200) fail("LIST", pfx, r);
      for (const std::string& c : xml_blocks(r.body, "Contents")) {
        std::string key = xml_first(c, "Key");
        if (key.rfind(pfx, 0) != 0) continue;
        RemoteEntry e;
        e.key = key.substr(root.size());
        std::string size = xml_first(c, "Size");
        e.size = size.empty() ? 0 : std::stoull(size);
        auto t = parse_iso8601(xml_first(c, "LastModified"));
        e.modified = t ? *t : std::chrono::system_clock::now();  // unknown: as young as can be
        out.push_back(std::move(e));
      }
      if (xml_first(r.body, "IsTruncated") != "true") break;
      token = xml_first(r.body, "NextContinuationToken");
      if (token.empty()) break;
    }
    return out;
  }

  std::optional<std::string> get_key(const std::string& k) override {
    check_key(k);
    std::string key = (prefix_.empty() ? "" : prefix_ + "/") + k;
    std::string text;
    Sink sink = [&](const char* d, std::size_t n) { text.append(d, n); };
    Response r = with_retries("GET " + key, [&] {
      text.clear();
      return request("GET", key, {}, {}, &sink);
    });
    if (r.status == 404) return std::nullopt;
    if (r.status != 200) fail("GET", key, r);
    return text;
  }

  void put_key(const std::string& k, const std::string& text) override {
    check_key(k);
    std::string key = (prefix_.empty() ? "" : prefix_ + "/") + k;
    std::string payload = util::sha256_hex(text);
    Response r = with_retries("PUT " + key, [&] { return request("PUT", key, {}, text, nullptr, payload); });
    if (r.status != 200) fail("PUT", key, r);
  }

  void remove_key(const std::string& k) override {
    check_key(k);
    std::string key = (prefix_.empty() ? "" : prefix_ + "/") + k;
    Response r = with_retries("DELETE " + key, [&] { return request("DELETE", key, {}, {}, nullptr); });
    if (r.status != 204 && r.status != 200 && r.status != 404) fail("DELETE", key, r);
  }

  void remove(const std::string& sha) override {
    std::string key = full_key(sha);
    Response r = with_retries("DELETE " + key, [&] { return request("DELETE", key, {}, {}, nullptr); });
    if (r.status != 204 && r.status != 200 && r.status != 404) fail("DELETE", key, r);
  }

  std::size_t reclaim(std::chrono::seconds grace) override {
    // One page (up to 1,000) of the multipart uploads under this prefix's objects; stores
    // without ListMultipartUploads (or without the permission) answer an error: nothing to do.
    std::size_t n = 0;
    try {
      std::string pfx = (prefix_.empty() ? "" : prefix_ + "/") + "objects/sha256/";
      Response r = request("GET", "", {{"uploads", ""}, {"prefix", pfx}}, {}, nullptr);
      if (r.status != 200) return 0;
      auto now = std::chrono::system_clock::now();
      for (const std::string& up : xml_blocks(r.body, "Upload")) {
        std::string key = xml_first(up, "Key"), id = xml_first(up, "UploadId");
        auto begun = parse_iso8601(xml_first(up, "Initiated"));
        if (key.rfind(pfx, 0) != 0 || id.empty() || !begun || now - *begun <= grace) continue;
        Response d = request("DELETE", key, {{"uploadId", id}}, {}, nullptr);
        if (d.status == 204 || d.status == 200) ++n;
      }
    } catch (...) {
    }
    return n;
  }

 private:
  std::string full_key(const std::string& sha) const {
    return (prefix_.empty() ? "" : prefix_ + "/") + object_key(sha);
  }

  [[noreturn]] void fail(const std::string& method, const std::string& key, const Response& r) const {
    std::string code = xml_first(r.body, "Code"), msg = xml_first(r.body, "Message");
    std::string why = "HTTP " + std::to_string(r.status);
    if (!code.empty()) why += " " + code;
    if (!msg.empty()) why += ": " + msg;
    if (code.empty() && (r.status == 401 || r.status == 403)) why += " (access denied: check the credentials)";
    if (r.status == 301 || redirect_region(r) != "") {
      std::string other = redirect_region(r);
      why += other.empty() ? " (the bucket is in another region than " + where().first + "; set the remote's region)"
                           : " (the bucket is in region " + other + ", not " + where().first + "; set region = \"" +
                                 other + "\" under [remote." + spec_.name + "])";
    }
    throw Error(Exit::failure, "remote " + describe() + ": " + method + " s3://" + bucket_ + "/" + key + ": " + why);
  }

  static void check_hash(const std::string& sha, const std::string& bytes, const fs::path& src, std::uint64_t size) {
    std::string got = util::sha256_hex(bytes);
    if (got != sha || bytes.size() != size)
      throw Error(Exit::integrity, "object " + sha + " is corrupt: its " + std::to_string(bytes.size()) +
                                       " bytes hash to " + got + " (" + src.string() + "); nothing was pushed");
  }

  static std::string read_range(const fs::path& src, std::uint64_t off, std::uint64_t n) {
    util::Fd fd = util::open_read(src);
    std::string buf(n, '\0');
    std::uint64_t done = 0;
    while (done < n) {
      ssize_t r = ::pread(fd.get(), buf.data() + done, n - done, static_cast<off_t>(off + done));
      if (r < 0) {
        if (errno == EINTR) continue;
        throw Error(Exit::failure, util::errno_message(src, "read failed"));
      }
      if (r == 0) throw Error(Exit::failure, src.string() + ": file shrank while being pushed");
      done += static_cast<std::uint64_t>(r);
    }
    return buf;
  }

  void put_multipart(const std::string& sha, const fs::path& src, std::uint64_t size, const Sent& sent) {
    std::string key = full_key(sha);
    Response r = with_retries("POST " + key + "?uploads", [&] {
      return request("POST", key, {{"uploads", ""}}, {}, nullptr);
    });
    if (r.status != 200) fail("POST (create multipart upload)", key, r);
    std::string upload_id = xml_first(r.body, "UploadId");
    if (upload_id.empty()) fail("POST (create multipart upload: no UploadId)", key, r);
    try {
      // Parts go kPartJobs at a time (each held in memory: at most kPartJobs x part size);
      // meanwhile this thread hashes the whole file, so a corrupt cache object is never
      // completed into a visible object.
      const std::uint64_t parts = (size + part_size_ - 1) / part_size_;
      std::vector<std::string> etags(parts);
      std::atomic<std::uint64_t> next{0};
      std::atomic<std::uint64_t> parts_sent{0};  // bytes of the parts uploaded
      std::atomic<bool> stop{false};
      std::mutex m;
      std::exception_ptr err;
      auto worker = [&] {
        for (;;) {
          if (stop) return;
          std::uint64_t i = next++;
          if (i >= parts) return;
          try {
            std::uint64_t off = i * part_size_, n = std::min(part_size_, size - off);
            std::string bytes = read_range(src, off, n);
            std::string psha = util::sha256_hex(bytes);
            std::string num = std::to_string(i + 1);
            std::map<std::string, std::string> q{{"partNumber", num}, {"uploadId", upload_id}};
            Response pr = with_retries("PUT part " + num, [&] { return request("PUT", key, q, bytes, nullptr, psha); });
            if (pr.status != 200) fail("PUT (part " + num + ")", key, pr);
            etags[i] = pr.headers["etag"];
            if (sent) sent(parts_sent += n);
          } catch (...) {
            std::lock_guard<std::mutex> l(m);
            if (!err) err = std::current_exception();
            stop = true;
          }
        }
      };
      std::vector<std::thread> threads;
      for (int k = 0; k < kPartJobs; ++k) threads.emplace_back(worker);
      std::string got;
      try {
        got = util::sha256_file(src);
      } catch (...) {
        stop = true;
        for (auto& t : threads) t.join();
        throw;
      }
      for (auto& t : threads) t.join();
      if (err) std::rethrow_exception(err);
      if (got != sha)
        throw Error(Exit::integrity, "object " + sha + " is corrupt: its " + std::to_string(size) + " bytes hash to " +
                                         got + " (" + src.string() + "); nothing was pushed");
      std::string complete = "<CompleteMultipartUpload>";
      for (std::uint64_t i = 0; i < parts; ++i)
        complete += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + etags[i] + "</ETag></Part>";
      complete += "</CompleteMultipartUpload>";
      std::string csha = util::sha256_hex(complete);
      Response cr = with_retries("POST " + key + "?uploadId", [&] {
        Response x = request("POST", key, {{"uploadId", upload_id}}, complete, nullptr, csha);
        // S3 may answer 200 with an <Error> body when completion fails late: retry those.
        if (x.status == 200 && x.body.find("<Error>") != std::string::npos) x.status = 500;
        return x;
      });
      if (cr.status != 200) fail("POST (complete multipart upload)", key, cr);
    } catch (...) {
      try {
        request("DELETE", key, {{"uploadId", upload_id}}, {}, nullptr);
      } catch (...) {
      }
      throw;
    }
  }

  template <typename F>
  Response with_retries(const std::string& what, F&& f) {
    auto delay = std::chrono::milliseconds(100);
    std::mt19937 rng(std::random_device{}());
    for (int attempt = 1;; ++attempt) {
      try {
        Response r = f();
        bool transient = r.status >= 500 || r.status == 429 || xml_first(r.body, "Code") == "RequestTimeout";
        if (!transient || attempt == kAttempts) return r;
      } catch (const Transient& e) {
        if (attempt == kAttempts)
          throw Error(Exit::failure, std::string(e.what()) + " (after " + std::to_string(kAttempts) + " attempts)");
      }
      std::this_thread::sleep_for(delay + std::chrono::milliseconds(rng() % 100));
      delay *= 2;
    }
  }

  /// A request; when S3 answers that the bucket is in another region (a 301 with
  /// x-amz-bucket-region, or a 400 AuthorizationHeaderMalformed naming the region), as boto3
  /// does: the remote moves to that region (and its AWS endpoint) and the request is signed
  /// again and sent once more.
  Response request(const std::string& method, const std::string& key, const std::map<std::string, std::string>& query,
                   std::string_view body, const Sink* sink, const std::string& payload_sha = {}) {
    auto [region, host] = where();
    Response r = request_once(method, key, query, body, sink, payload_sha, region, host);
    std::string other = redirect_region(r);
    if (other.empty() || other == region) return r;
    relocate(other);
    std::tie(region, host) = where();
    return request_once(method, key, query, body, sink, payload_sha, region, host);
  }

  std::pair<std::string, std::string> where() const {
    std::lock_guard<std::mutex> l(where_mutex_);
    return {region_, host_};
  }

  void relocate(const std::string& region) {
    std::lock_guard<std::mutex> l(where_mutex_);
    region_ = region;
    if (aws_endpoint_) {
      std::string e = aws_endpoint(region);
      set_host(e.substr(e.find("://") + 3));
    }
  }

  static std::string aws_endpoint(const std::string& region) { return "https://s3." + region + ".amazonaws.com"; }

  void set_host(std::string host) {
    while (!host.empty() && host.back() == '/') host.pop_back();
    host_ = path_style_ ? host : bucket_ + "." + host;
  }

  /// The region S3 says the bucket is in, when `r` (a 301, or a 400: AuthorizationHeader-
  /// Malformed, or a HEAD's, which has no body) says it is in another ("" otherwise).
  static std::string redirect_region(const Response& r) {
    if (r.status != 301 && r.status != 400) return {};
    auto it = r.headers.find("x-amz-bucket-region");
    if (it != r.headers.end() && !it->second.empty()) return it->second;
    if (r.status == 400 && xml_first(r.body, "Code") != "AuthorizationHeaderMalformed") return {};
    return xml_first(r.body, "Region");
  }

  Response request_once(const std::string& method, const std::string& key,
                        const std::map<std::string, std::string>& query, std::string_view body, const Sink* sink,
                        const std::string& payload_sha, const std::string& region, const std::string& host) {
    sigv4::Request sr;
    sr.method = method;
    sr.path = base_path_ + key;
    if (key.empty() && base_path_ != "/") sr.path = base_path_.substr(0, base_path_.size() - 1);  // "/bucket"
    sr.query = query;
    std::string amz_date = sigv4::amz_date_now();
    sr.payload_sha256 = payload_sha.empty() ? util::sha256_hex(body) : payload_sha;
    sr.headers["host"] = host;
    sr.headers["x-amz-content-sha256"] = sr.payload_sha256;
    sr.headers["x-amz-date"] = amz_date;
    if (!creds_.session_token.empty()) sr.headers["x-amz-security-token"] = creds_.session_token;
    std::string auth = sigv4::authorization(sr, creds_, amz_date, region);

    std::string url = scheme_ + "://" + host + sigv4::uri_encode(sr.path, false);
    std::string qs;
    for (auto& [k, v] : query)
      qs += (qs.empty() ? "?" : "&") + sigv4::uri_encode(k, true) + "=" + sigv4::uri_encode(v, true);
    url += qs;

    CURL* c = curl_easy_init();
    if (!c) throw Transient(Exit::failure, "remote " + describe() + ": curl_easy_init failed");
    std::unique_ptr<CURL, void (*)(CURL*)> guard(c, curl_easy_cleanup);
    struct curl_slist* hl = nullptr;
    for (auto& [k, v] : sr.headers) hl = curl_slist_append(hl, (k + ": " + v).c_str());
    hl = curl_slist_append(hl, ("Authorization: " + auth).c_str());
    hl = curl_slist_append(hl, "Expect:");
    hl = curl_slist_append(hl, "Content-Type:");
    std::unique_ptr<curl_slist, void (*)(curl_slist*)> hguard(hl, curl_slist_free_all);

    Response resp;
    Transfer t{c, &resp, sink, false};
    Body b{body, 0};
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &resp);
    if (method == "HEAD") {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (method == "PUT" || method == "POST") {
      curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
      curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
      curl_easy_setopt(c, CURLOPT_READDATA, &b);
      curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(body.size()));
      if (method == "POST") curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "POST");
    } else if (method != "GET") {
      curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    if (rc != CURLE_OK) {
      if (rc == CURLE_WRITE_ERROR && sink && t.sink_used) {
        // The sink threw (e.g. disk full): not transient. Re-run the sink's error by
        // reporting it as a failure.
        throw Error(Exit::failure,
                    "remote " + describe() + ": " + method + " " + key + ": writing the download failed");
      }
      throw Transient(Exit::failure,
                      "remote " + describe() + ": " + method + " " + url + ": " + curl_easy_strerror(rc));
    }
    return resp;
  }

  RemoteSpec spec_;
  std::string bucket_, prefix_, scheme_, base_path_;
  mutable std::mutex where_mutex_;  ///< guards region_ and host_ (a region redirect moves them)
  std::string region_, host_;
  bool path_style_ = false, aws_endpoint_ = false;
  sigv4::Credentials creds_;
  std::uint64_t part_size_ = kDefaultPart, threshold_ = kDefaultPart;
};

std::string check_s3_url(const std::string& url) {
  std::string rest = url.substr(5);
  if (rest.substr(0, rest.find('/')).empty()) return "no bucket: s3://BUCKET[/PREFIX]";
  return {};
}

std::unique_ptr<Remote> open_s3(const RemoteSpec& spec) { return std::make_unique<S3Remote>(spec); }

}  // namespace

const RemoteBackend& s3_backend() {
  using T = RemoteKey::Type;
  static const RemoteBackend b{
      "s3",
      {"s3"},
      "s3://BUCKET[/PREFIX]",
      {
          // "" = each as the AWS CLI resolves it (store/aws_config.h): endpoint_url:
          // $AWS_ENDPOINT_URL..., the profile's, AWS; region: $AWS_REGION, ..., the profile's,
          // us-east-1; profile: $AWS_PROFILE, default.
          {"endpoint_url", T::string, {}, false, "endpoint"},
          {"region", T::string, {}, false, ""},
          {"profile", T::string, {}, false, "profile"},
          // "" = virtual for AWS, path with an endpoint_url
          {"addressing", T::choice, {"path", "virtual"}, false, ""},
          {"access_key_id", T::string, {}, true, ""},  // credentials: "" = $AWS_*, the profile's
          {"secret_access_key", T::string, {}, true, ""},
          {"session_token", T::string, {}, true, ""},
          {"multipart_threshold", T::size, {}, false, ""},  // larger objects: multipart (64 MiB)
          {"part_size", T::size, {}, false, ""},            // 64 MiB; S3: at least 5 MiB
      },
      check_s3_url,
      open_s3};
  return b;
}

}  // namespace mvc::store
