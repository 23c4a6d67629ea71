#include "store/remote_registry.h"

#include <algorithm>
#include <cctype>

#include "mvc/error.h"
#include "util/sha256.h"

namespace mvc::store {

// Each backend's definition, in its own file.
const RemoteBackend& folder_backend();  // folder_remote.cpp
const RemoteBackend& s3_backend();      // s3_remote.cpp

namespace {

std::string scheme_of(const std::string& url) {
  auto sep = url.find("://");
  return sep == std::string::npos ? std::string() : url.substr(0, sep);
}

/// "a path, file://PATH or s3://BUCKET[/PREFIX]"
std::string url_forms() {
  const auto& all = remote_backends();
  std::string out;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i > 0) out += i + 1 == all.size() ? " or " : ", ";
    out += all[i]->url_form;
  }
  return out;
}

}  // namespace

const std::vector<const RemoteBackend*>& remote_backends() {
  static const std::vector<const RemoteBackend*> kBackends{
      &folder_backend(),
      &s3_backend(),
  };
  return kBackends;
}

const RemoteBackend* find_backend(const std::string& url) {
  std::string scheme = scheme_of(url);
  for (const RemoteBackend* b : remote_backends())
    for (const std::string& s : b->schemes)
      if (s == scheme) return b;
  return nullptr;
}

std::string check_url(const std::string& url) {
  if (url.empty()) return "empty";
  const RemoteBackend* b = find_backend(url);
  if (!b) return url_forms();
  return b->check_url ? b->check_url(url) : std::string();
}

const RemoteKey* find_key(const RemoteBackend& backend, const std::string& key) {
  for (const RemoteKey& k : backend.keys)
    if (k.name == key) return &k;
  return nullptr;
}

std::string valid_keys(const RemoteBackend& backend) {
  std::string out = "url";
  for (const RemoteKey& k : backend.keys) out += ", " + k.name;
  return out;
}

std::string check_option(const RemoteKey& key, const std::string& value) {
  switch (key.type) {
    case RemoteKey::Type::string:
      return {};
    case RemoteKey::Type::size: {
      bool digits = !value.empty() && value.size() < 20 && value.find_first_not_of("0123456789") == std::string::npos;
      if (!digits || std::stoull(value) == 0) return "'" + key.name + "' must be a positive integer (bytes)";
      return {};
    }
    case RemoteKey::Type::choice: {
      std::string list;
      for (const std::string& c : key.choices) {
        if (c == value) return {};
        list += (list.empty() ? "\"" : " or \"") + c + "\"";
      }
      return key.name + " must be " + list + ", not \"" + value + "\"";
    }
  }
  return {};
}

const std::string& RemoteSpec::option(const std::string& key) const {
  static const std::string kNone;
  auto it = options.find(key);
  return it == options.end() ? kNone : it->second;
}

std::uint64_t RemoteSpec::size_option(const std::string& key) const {
  const std::string& v = option(key);
  return v.empty() ? 0 : std::stoull(v);
}

std::string object_key(const std::string& sha) {
  if (!util::is_sha256_hex(sha)) throw Error(Exit::failure, "invalid object name '" + sha + "'");
  return "objects/sha256/" + sha.substr(0, 2) + "/" + sha.substr(2);
}

void check_key(const std::string& key) {
  bool ok = key.rfind("objects/", 0) == 0 || key.rfind("manifests/", 0) == 0 || key.rfind("locks/", 0) == 0;
  std::size_t start = 0;
  while (ok && start <= key.size()) {
    std::size_t end = key.find('/', start);
    if (end == std::string::npos) end = key.size();
    std::string seg = key.substr(start, end - start);
    ok = !seg.empty() && seg != "." && seg != ".." && std::all_of(seg.begin(), seg.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
    });
    start = end + 1;
  }
  if (!ok) throw Error(Exit::failure, "invalid remote key '" + key + "'");
}

std::unique_ptr<Remote> open_remote(const RemoteSpec& spec) {
  std::string why = check_url(spec.url);
  if (!why.empty())
    throw Error(Exit::usage, "remote " + spec.name + ": unsupported URL '" + spec.url + "' (" + why + ")");
  const RemoteBackend& b = *find_backend(spec.url);
  for (const auto& [key, value] : spec.options) {
    const RemoteKey* k = find_key(b, key);
    if (!k)
      throw Error(Exit::failure, "remote " + spec.name + ": unknown key '" + key + "' for this " + b.name +
                                     " remote (valid keys: " + valid_keys(b) + ")");
    if (std::string bad = check_option(*k, value); !bad.empty())
      throw Error(Exit::failure, "remote " + spec.name + ": " + bad);
  }
  return b.open(spec);
}

}  // namespace mvc::store
