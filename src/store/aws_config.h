// Where an S3 remote's credentials, region and endpoint come from, resolved as the AWS CLI and
// boto3 (botocore) resolve them (docs/user-guide.md, "Remotes"; docs/repository-format.md,
// "Configuration and remotes"):
//   credentials: the remote's access_key_id/secret_access_key (config.local.toml); the
//     environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN) unless the
//     remote names a `profile` (botocore drops the environment for an explicit profile); the
//     shared credentials file ($AWS_SHARED_CREDENTIALS_FILE or ~/.aws/credentials, section
//     [PROFILE]); the config file ($AWS_CONFIG_FILE or ~/.aws/config, [default] or
//     [profile PROFILE]). PROFILE: the remote's `profile`, else $AWS_DEFAULT_PROFILE,
//     $AWS_PROFILE, else "default". A source botocore would use first that mvc does not
//     support (role_arn, web identity, sso_*, credential_process) is an error naming it.
//   region: the remote's `region`, $AWS_REGION, $AWS_DEFAULT_REGION, the profile's `region`,
//     us-east-1.
//   endpoint: the remote's `endpoint_url`, $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, the
//     profile's services section (`services = NAME`, [services NAME] s3 = endpoint_url = ...),
//     the profile's `endpoint_url` (AWS CLI v2; $AWS_IGNORE_CONFIGURED_ENDPOINT_URLS or the
//     profile's ignore_configured_endpoint_urls = true skips all but the remote's), else AWS.
// A profile's settings are its config-file section updated by its credentials-file section
// (as botocore merges them).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "store/sigv4.h"

namespace mvc::store::aws {

/// An INI file in the format of the AWS shared files (Python's configparser.RawConfigParser, as
/// botocore reads them): `[section]` headers; `key = value` or `key: value` (keys lowercased,
/// values stripped); whole-line `#`/`;` comments; an indented line continues the value above;
/// a value that starts on the next lines (`s3 =` then indented `key = value` lines) is a
/// nested section, kept in `nested`.
struct IniSection {
  std::string name;
  std::map<std::string, std::string> values;
  std::map<std::string, std::map<std::string, std::string>> nested;
};
struct IniFile {
  std::vector<IniSection> sections;
  const IniSection* find(const std::string& name) const;
};

/// Parses `text`; throws Exit::failure "FILE:LINE: ..." for a line that is no header, key or
/// continuation, a key before any section, a duplicate section or key, a bad nested value.
IniFile parse_ini(const std::string& text, const std::string& file);

/// Reads the environment ("" = unset).
using Getenv = std::function<std::string(const std::string&)>;
Getenv process_env();

struct Resolved {
  sigv4::Credentials credentials;
  std::string credentials_source;  ///< "remote config", "environment", "FILE [SECTION]"
  std::string profile;             ///< the profile consulted ("default" unless named)
  std::string region, region_source;
  std::string endpoint_url;  ///< "" = AWS's
  std::string endpoint_source;
};

/// Resolves remote `remote`'s settings from its `options` (store::RemoteSpec::options) and the
/// environment. Throws Exit::failure for a named profile in neither file, a file that does not
/// parse, partial credentials, an unsupported credential source, or no credentials at all.
Resolved resolve(const std::string& remote, const std::map<std::string, std::string>& options, const Getenv& env);

}  // namespace mvc::store::aws
