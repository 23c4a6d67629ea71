#include "store/aws_config.h"

#include <cstdlib>
#include <filesystem>

#include "mvc/error.h"
#include "util/fs.h"

namespace mvc::store::aws {

namespace {

namespace fs = std::filesystem;

std::string strip(const std::string& s) {
  std::size_t b = s.find_first_not_of(" \t\r\n\f\v");
  if (b == std::string::npos) return {};
  std::size_t e = s.find_last_not_of(" \t\r\n\f\v");
  return s.substr(b, e - b + 1);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

/// shlex.split for a section header ("profile dev", "profile \"my dev\""); empty on a bad quote.
std::vector<std::string> split_words(const std::string& s, bool& ok) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  ok = true;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '"' || c == '\'') {
      std::size_t e = s.find(c, i + 1);
      if (e == std::string::npos) {
        ok = false;
        return {};
      }
      cur += s.substr(i + 1, e - i - 1);
      in_word = true;
      i = e;
    } else if (c == ' ' || c == '\t') {
      if (in_word) out.push_back(cur);
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) out.push_back(cur);
  return out;
}

std::map<std::string, std::string> parse_nested(const std::string& value, const std::string& file, int line) {
  std::map<std::string, std::string> out;
  std::size_t p = 0;
  while (p <= value.size()) {
    std::size_t e = value.find('\n', p);
    std::string l = value.substr(p, e == std::string::npos ? std::string::npos : e - p);
    p = e == std::string::npos ? value.size() + 1 : e + 1;
    if (strip(l).empty()) continue;
    auto eq = l.find('=');
    if (eq == std::string::npos)
      throw Error(Exit::failure,
                  file + ":" + std::to_string(line) + ": nested value '" + strip(l) + "' is not 'key = value'");
    out[strip(l.substr(0, eq))] = strip(l.substr(eq + 1));
  }
  return out;
}

struct Files {
  std::string cred_path, config_path;
  IniFile creds, config;
  bool cred_exists = false, config_exists = false;
};

std::string expand_home(const std::string& p, const Getenv& env) {
  if (p == "~" || p.rfind("~/", 0) == 0) return env("HOME") + p.substr(1);
  return p;
}

IniFile read_ini(const std::string& path, bool& exists) {
  std::error_code ec;
  exists = fs::is_regular_file(path, ec);
  if (!exists) return {};
  return parse_ini(util::read_file(path), path);
}

std::string get(const std::map<std::string, std::string>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? std::string() : it->second;
}

bool truthy(const std::string& v) { return lower(strip(v)) == "true"; }

}  // namespace

const IniSection* IniFile::find(const std::string& name) const {
  for (const IniSection& s : sections)
    if (s.name == name) return &s;
  return nullptr;
}

IniFile parse_ini(const std::string& text, const std::string& file) {
  IniFile out;
  IniSection* cur = nullptr;
  std::string opt;                  // the key whose value continues, "" when none
  std::vector<std::string> vlines;  // its value's lines
  int opt_line = 0;
  std::size_t opt_indent = 0;
  auto where = [&](int n) { return file + ":" + std::to_string(n) + ": "; };
  auto finish = [&] {
    if (!cur || opt.empty()) return;
    std::string v;
    for (std::size_t i = 0; i < vlines.size(); ++i) v += (i ? "\n" : "") + vlines[i];
    while (!v.empty() && (v.back() == '\n' || v.back() == ' ' || v.back() == '\t')) v.pop_back();
    if (!v.empty() && v.front() == '\n')
      cur->nested[opt] = parse_nested(v, file, opt_line);
    else
      cur->values[opt] = v;
    opt.clear();
    vlines.clear();
  };
  int n = 0;
  std::size_t p = 0;
  while (p < text.size()) {
    std::size_t e = text.find('\n', p);
    std::string raw = text.substr(p, e == std::string::npos ? std::string::npos : e - p);
    p = e == std::string::npos ? text.size() : e + 1;
    ++n;
    std::string s = strip(raw);
    std::size_t indent = raw.find_first_not_of(" \t");
    if (s.empty()) {
      if (!opt.empty()) vlines.emplace_back();
      continue;
    }
    if (s[0] == '#' || s[0] == ';') continue;
    if (!opt.empty() && indent > opt_indent) {  // continuation line
      vlines.push_back(s);
      continue;
    }
    finish();
    if (s[0] == '[') {
      auto close = s.rfind(']');
      if (close == std::string::npos || close < 2)
        throw Error(Exit::failure, where(n) + "syntax error: '" + s + "' is not a [section] header");
      std::string name = s.substr(1, close - 1);
      if (out.find(name)) throw Error(Exit::failure, where(n) + "section [" + name + "] appears twice");
      out.sections.push_back({name, {}, {}});
      cur = &out.sections.back();
      continue;
    }
    if (!cur) throw Error(Exit::failure, where(n) + "syntax error: '" + s + "' comes before any [section] header");
    auto d = s.find_first_of("=:");
    std::string key = d == std::string::npos ? std::string() : lower(strip(s.substr(0, d)));
    if (key.empty())
      throw Error(Exit::failure, where(n) + "syntax error: '" + s + "' is not 'key = value' (in [" + cur->name + "])");
    if (cur->values.count(key) || cur->nested.count(key))
      throw Error(Exit::failure, where(n) + "key '" + key + "' appears twice in [" + cur->name + "]");
    opt = key;
    opt_line = n;
    opt_indent = indent;
    vlines = {strip(s.substr(d + 1))};
  }
  finish();
  return out;
}

Getenv process_env() {
  return [](const std::string& name) {
    const char* v = std::getenv(name.c_str());
    return v ? std::string(v) : std::string();
  };
}

Resolved resolve(const std::string& remote, const std::map<std::string, std::string>& options, const Getenv& env) {
  Resolved r;
  const std::string who = "remote " + remote + ": ";

  // The profile and the two files.
  std::string named = get(options, "profile");
  bool explicit_profile = !named.empty();
  if (named.empty()) named = env("AWS_DEFAULT_PROFILE");
  if (named.empty()) named = env("AWS_PROFILE");
  r.profile = named.empty() ? "default" : named;
  Files f;
  f.cred_path = expand_home(
      !env("AWS_SHARED_CREDENTIALS_FILE").empty() ? env("AWS_SHARED_CREDENTIALS_FILE") : "~/.aws/credentials", env);
  f.config_path = expand_home(!env("AWS_CONFIG_FILE").empty() ? env("AWS_CONFIG_FILE") : "~/.aws/config", env);

  // Both files are read (as botocore does): a profile named but in neither is an error even
  // when the remote's own keys need nothing from it.
  bool loaded = false;
  const IniSection* cred_sec = nullptr;  // [PROFILE] in the credentials file
  const IniSection* conf_sec = nullptr;  // [default] / [profile PROFILE] in the config file
  std::map<std::string, std::string> merged;
  auto load = [&] {
    if (loaded) return;
    loaded = true;
    f.creds = read_ini(f.cred_path, f.cred_exists);
    f.config = read_ini(f.config_path, f.config_exists);
    for (const IniSection& s : f.config.sections) {
      std::string name;
      if (s.name == "default") {
        name = "default";
      } else if (s.name.rfind("profile", 0) == 0) {
        bool ok = false;
        auto w = split_words(s.name, ok);
        if (ok && w.size() == 2) name = w[1];
      }
      if (name == r.profile) conf_sec = &s;  // the last one wins, as in botocore's dict
    }
    cred_sec = f.creds.find(r.profile);
    if (conf_sec) merged = conf_sec->values;
    if (cred_sec)
      for (auto& [k, v] : cred_sec->values) merged[k] = v;
    if (!named.empty() && !conf_sec && !cred_sec)
      throw Error(Exit::failure, who + "AWS profile '" + r.profile + "' not found (read " + f.cred_path +
                                     (f.cred_exists ? "" : " (absent)") + " and " + f.config_path +
                                     (f.config_exists ? "" : " (absent)") + ")");
  };
  load();
  auto cred_label = [&] { return f.cred_path + " [" + r.profile + "]"; };
  auto conf_label = [&] { return f.config_path + " [" + conf_sec->name + "]"; };
  // Which file a profile key comes from, for messages.
  auto key_label = [&](const std::string& key) {
    return cred_sec && cred_sec->values.count(key) ? cred_label() : conf_label();
  };

  // Credentials.
  const std::string &opt_key = get(options, "access_key_id"), &opt_secret = get(options, "secret_access_key");
  auto partial = [&](const std::string& where, const std::string& has, const std::string& lacks) {
    return Error(Exit::failure, who + where + ": " + has + " is set but " + lacks + " is not");
  };
  if (!opt_key.empty() || !opt_secret.empty()) {
    if (opt_secret.empty()) throw partial("remote config", "access_key_id", "secret_access_key");
    if (opt_key.empty()) throw partial("remote config", "secret_access_key", "access_key_id");
    r.credentials = {opt_key, opt_secret, get(options, "session_token")};
    r.credentials_source = "remote config";
  } else if (!explicit_profile && !env("AWS_ACCESS_KEY_ID").empty()) {
    if (env("AWS_SECRET_ACCESS_KEY").empty())
      throw partial("environment", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY");
    std::string token = env("AWS_SECURITY_TOKEN");
    if (token.empty()) token = env("AWS_SESSION_TOKEN");
    r.credentials = {env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY"), token};
    r.credentials_source = "environment";
  } else {
    load();
    auto unsupported = [&](const std::string& where, const std::string& key, const std::string& what) {
      return Error(Exit::failure, who + where + ": " + key + " (" + what +
                                      ") is not supported by mvc; give the profile aws_access_key_id and "
                                      "aws_secret_access_key, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
    };
    // In botocore's order: assume role, web identity, SSO, the credentials file, a
    // credential process, the config file.
    if (merged.count("role_arn")) {
      bool web = merged.count("web_identity_token_file") > 0;
      throw unsupported(key_label(web ? "web_identity_token_file" : "role_arn"),
                        web ? "web_identity_token_file" : "role_arn", web ? "web identity" : "assume role");
    }
    if (!explicit_profile && !env("AWS_WEB_IDENTITY_TOKEN_FILE").empty() && !env("AWS_ROLE_ARN").empty())
      throw unsupported("environment", "AWS_WEB_IDENTITY_TOKEN_FILE", "web identity");
    for (auto& [k, v] : merged)
      if (k.rfind("sso_", 0) == 0) throw unsupported(key_label(k), k, "AWS IAM Identity Center (SSO)");
    auto from = [&](const IniSection* s, const std::string& label) {
      if (!s || !s->values.count("aws_access_key_id")) return false;
      if (!s->values.count("aws_secret_access_key")) throw partial(label, "aws_access_key_id", "aws_secret_access_key");
      std::string token = get(s->values, "aws_security_token");
      if (token.empty()) token = get(s->values, "aws_session_token");
      r.credentials = {get(s->values, "aws_access_key_id"), get(s->values, "aws_secret_access_key"), token};
      r.credentials_source = label;
      return true;
    };
    if (!from(cred_sec, cred_sec ? cred_label() : "")) {
      if (merged.count("credential_process"))
        throw unsupported(key_label("credential_process"), "credential_process", "an external process");
      if (!from(conf_sec, conf_sec ? conf_label() : ""))
        throw Error(Exit::failure,
                    who +
                        "no S3 credentials: none in the remote's config (access_key_id and secret_access_key in "
                        ".mvc/config.local.toml), " +
                        std::string(explicit_profile ? "" : "the environment (AWS_ACCESS_KEY_ID), ") + f.cred_path +
                        " [" + r.profile + "] or " + f.config_path + " [" +
                        (r.profile == "default" ? std::string("default") : "profile " + r.profile) +
                        "]; instance metadata and container credentials are not supported");
    }
  }

  // Region.
  auto profile_value = [&](const std::string& key, std::string& value, std::string& source) {
    load();
    auto it = merged.find(key);
    if (it == merged.end() || it->second.empty()) return false;
    value = it->second;
    source = key_label(key);
    return true;
  };
  if (!get(options, "region").empty()) {
    r.region = get(options, "region");
    r.region_source = "remote config";
  } else if (!env("AWS_REGION").empty()) {
    r.region = env("AWS_REGION");
    r.region_source = "environment (AWS_REGION)";
  } else if (!env("AWS_DEFAULT_REGION").empty()) {
    r.region = env("AWS_DEFAULT_REGION");
    r.region_source = "environment (AWS_DEFAULT_REGION)";
  } else if (!profile_value("region", r.region, r.region_source)) {
    r.region = "us-east-1";
    r.region_source = "default";
  }

  // Endpoint.
  if (!get(options, "endpoint_url").empty()) {
    r.endpoint_url = get(options, "endpoint_url");
    r.endpoint_source = "remote config";
    return r;
  }
  load();
  if (truthy(env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")) ||
      (env("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS").empty() && truthy(get(merged, "ignore_configured_endpoint_urls")))) {
    r.endpoint_source = "AWS";
    return r;
  }
  for (const char* var : {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"})
    if (!env(var).empty()) {
      r.endpoint_url = env(var);
      r.endpoint_source = std::string("environment (") + var + ")";
      return r;
    }
  if (std::string services = get(merged, "services"); !services.empty()) {
    for (const IniSection& s : f.config.sections) {
      bool ok = false;
      auto w = split_words(s.name, ok);
      if (!ok || w.size() != 2 || w[0] != "services" || w[1] != services) continue;
      auto it = s.nested.find("s3");
      if (it != s.nested.end() && !get(it->second, "endpoint_url").empty()) {
        r.endpoint_url = get(it->second, "endpoint_url");
        r.endpoint_source = f.config_path + " [" + s.name + "] s3";
        return r;
      }
    }
  }
  if (!profile_value("endpoint_url", r.endpoint_url, r.endpoint_source)) r.endpoint_source = "AWS";
  return r;
}

}  // namespace mvc::store::aws
