// The AWS credential, region and endpoint chain of S3 remotes (store/aws_config.h): what mvc
// resolves from the environment and the AWS shared files equals what botocore (Debian's
// python3-botocore, through tests/cli/s3_client.py resolve) resolves from the same files and
// environment; what botocore 1.29 predates (AWS_REGION, AWS_ENDPOINT_URL, endpoint_url) is
// checked against the AWS CLI v2 documentation; bad input is a one-line error.
#include <catch2/catch.hpp>

#include "cli/remote_support.h"
#include "mvc/error.h"
#include "store/aws_config.h"

using namespace mvc;
using namespace mvc::test;
using store::aws::Resolved;

namespace {

// Every variable either side reads: unset ("") unless a case sets it, whatever the test
// process's own environment holds.
const char* kVars[] = {"AWS_PROFILE",
                       "AWS_DEFAULT_PROFILE",
                       "AWS_ACCESS_KEY_ID",
                       "AWS_SECRET_ACCESS_KEY",
                       "AWS_SESSION_TOKEN",
                       "AWS_SECURITY_TOKEN",
                       "AWS_SHARED_CREDENTIALS_FILE",
                       "AWS_CONFIG_FILE",
                       "AWS_REGION",
                       "AWS_DEFAULT_REGION",
                       "AWS_ROLE_ARN",
                       "AWS_WEB_IDENTITY_TOKEN_FILE",
                       "AWS_ENDPOINT_URL",
                       "AWS_ENDPOINT_URL_S3",
                       "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
                       "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
                       "AWS_CONTAINER_CREDENTIALS_FULL_URI"};

struct Home {
  TempDir dir;
  std::map<std::string, std::string> env;
  Home() {
    for (const char* v : kVars) env[v] = "";
    env["HOME"] = dir.path().string();
  }
  Home(std::initializer_list<std::pair<const std::string, std::string>> set) : Home() {
    for (auto& [k, v] : set) env[k] = v;
  }
  void credentials(const std::string& text) const { write_file(dir / ".aws/credentials", text); }
  void config(const std::string& text) const { write_file(dir / ".aws/config", text); }
  Resolved resolve(const std::map<std::string, std::string>& options = {}) const {
    auto e = env;
    return store::aws::resolve("origin", options, [e](const std::string& k) {
      auto it = e.find(k);
      return it == e.end() ? std::string() : it->second;
    });
  }
  /// mvc's error message ("" when it resolves).
  std::string error(const std::map<std::string, std::string>& options = {}) const {
    try {
      resolve(options);
    } catch (const Error& e) {
      CHECK(e.code() == Exit::failure);
      return e.what();
    }
    return {};
  }
  /// botocore's view; `profile` as boto3's profile_name ("-": none).
  nlohmann::json botocore(const std::string& profile = "-") const {
    RunResult r =
        run({python().string(), (source_dir() / "tests/cli/s3_client.py").string(), "resolve", profile}, {}, env);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    return nlohmann::json::parse(r.out);
  }
  /// Resolves on both sides (the remote's `profile` = boto3's profile_name) and compares.
  Resolved same_as_botocore(const std::string& profile = "") const {
    std::map<std::string, std::string> options;
    if (!profile.empty()) options["profile"] = profile;
    Resolved m = resolve(options);
    nlohmann::json b = botocore(profile.empty() ? "-" : profile);
    INFO(b.dump());
    REQUIRE(!b.contains("error"));
    CHECK(m.credentials.access_key_id == b["key"].get<std::string>());
    CHECK(m.credentials.secret_access_key == b["secret"].get<std::string>());
    CHECK(m.credentials.session_token == b["token"].get<std::string>());
    std::string region = b["region"].get<std::string>();
    CHECK(m.region == (region.empty() ? "us-east-1" : region));
    return m;
  }
};

}  // namespace

TEST_CASE("AWS chain: the default profile of ~/.aws/credentials, as botocore reads it", "[store][aws]") {
  Home h;
  h.credentials(
      "# team keys\n[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key=SKDEFAULT\n\n"
      "[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = SKDEV\n");
  h.config("[default]\nregion = eu-west-1\n");
  Resolved r = h.same_as_botocore();
  CHECK(r.credentials.access_key_id == "AKDEFAULT");
  CHECK(r.credentials_source == (h.dir / ".aws/credentials").string() + " [default]");
  CHECK(r.profile == "default");
  CHECK(r.region == "eu-west-1");
  CHECK(r.region_source == (h.dir / ".aws/config").string() + " [default]");
  CHECK(r.endpoint_url == "");
}

TEST_CASE("AWS chain: AWS_PROFILE picks the credentials section and the config file's [profile x]", "[store][aws]") {
  Home h{{"AWS_PROFILE", "dev"}};
  h.credentials(
      "[default]\naws_access_key_id = AKDEFAULT\naws_secret_access_key = SKDEFAULT\n"
      "[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = SKDEV\naws_session_token = TOKDEV\n");
  h.config("[default]\nregion = eu-west-1\n[profile dev]\nregion = ap-south-1\n");
  Resolved r = h.same_as_botocore();
  CHECK(r.credentials.access_key_id == "AKDEV");
  CHECK(r.credentials.session_token == "TOKDEV");
  CHECK(r.region == "ap-south-1");
  // AWS_DEFAULT_PROFILE is read before AWS_PROFILE.
  Home d{{"AWS_PROFILE", "dev"}, {"AWS_DEFAULT_PROFILE", "default"}};
  d.credentials(read_file(h.dir / ".aws/credentials"));
  CHECK(d.same_as_botocore().credentials.access_key_id == "AKDEFAULT");
}

TEST_CASE("AWS chain: environment credentials beat AWS_PROFILE's, a remote's profile beats the environment",
          "[store][aws]") {
  Home h{{"AWS_PROFILE", "dev"},
         {"AWS_ACCESS_KEY_ID", "AKENV"},
         {"AWS_SECRET_ACCESS_KEY", "SKENV"},
         {"AWS_SESSION_TOKEN", "TOKENV"}};
  h.credentials("[dev]\naws_access_key_id = AKDEV\naws_secret_access_key = SKDEV\n");
  Resolved r = h.same_as_botocore();
  CHECK(r.credentials.access_key_id == "AKENV");
  CHECK(r.credentials.session_token == "TOKENV");
  CHECK(r.credentials_source == "environment");
  // profile = "dev" in the remote's config is boto3's profile_name: the environment's keys are
  // not looked at.
  r = h.same_as_botocore("dev");
  CHECK(r.credentials.access_key_id == "AKDEV");
  CHECK(r.credentials.session_token == "");
  // The remote's own keys beat everything.
  r = h.resolve({{"access_key_id", "AKREMOTE"}, {"secret_access_key", "SKREMOTE"}, {"profile", "dev"}});
  CHECK(r.credentials.access_key_id == "AKREMOTE");
  CHECK(r.credentials_source == "remote config");
}

TEST_CASE("AWS chain: keys in the config file, the credentials file's win and its settings merge into the profile",
          "[store][aws]") {
  Home h{{"AWS_PROFILE", "ci"}};
  h.config(
      "[profile ci]\naws_access_key_id = AKCONF\naws_secret_access_key = SKCONF\naws_security_token = TOKCONF\n"
      "region = us-west-2\n");
  Resolved r = h.same_as_botocore();
  CHECK(r.credentials.access_key_id == "AKCONF");
  CHECK(r.credentials.session_token == "TOKCONF");
  CHECK(r.credentials_source == (h.dir / ".aws/config").string() + " [profile ci]");
  h.credentials("[ci]\naws_access_key_id = AKCRED\naws_secret_access_key = SKCRED\nregion = ca-central-1\n");
  r = h.same_as_botocore();
  CHECK(r.credentials.access_key_id == "AKCRED");
  CHECK(r.credentials.session_token == "");
  CHECK(r.region == "ca-central-1");
}

TEST_CASE("AWS chain: AWS_SHARED_CREDENTIALS_FILE and AWS_CONFIG_FILE replace ~/.aws's files", "[store][aws]") {
  Home h;
  h.credentials("[default]\naws_access_key_id = AKHOME\naws_secret_access_key = SKHOME\n");
  h.config("[default]\nregion = eu-west-1\n");
  write_file(h.dir / "elsewhere/creds", "[default]\naws_access_key_id = AKELSE\naws_secret_access_key = SKELSE\n");
  write_file(h.dir / "elsewhere/conf", "[default]\nregion = sa-east-1\n");
  h.env["AWS_SHARED_CREDENTIALS_FILE"] = (h.dir / "elsewhere/creds").string();
  h.env["AWS_CONFIG_FILE"] = "~/elsewhere/conf";  // ~ is the HOME, as botocore expands it
  Resolved r = h.same_as_botocore();
  CHECK(r.credentials.access_key_id == "AKELSE");
  CHECK(r.region == "sa-east-1");
}

TEST_CASE("AWS chain: region from the remote, AWS_REGION, AWS_DEFAULT_REGION, the profile, us-east-1", "[store][aws]") {
  Home h{{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}};
  CHECK(h.same_as_botocore().region == "us-east-1");
  CHECK(h.resolve().region_source == "default");
  h.config("[default]\nregion = eu-west-1\n");
  CHECK(h.same_as_botocore().region == "eu-west-1");
  h.env["AWS_DEFAULT_REGION"] = "eu-north-1";
  CHECK(h.same_as_botocore().region == "eu-north-1");
  // AWS_REGION (AWS CLI v2 and the SDKs; botocore 1.29 does not read it) comes before
  // AWS_DEFAULT_REGION.
  h.env["AWS_REGION"] = "af-south-1";
  CHECK(h.resolve().region == "af-south-1");
  CHECK(h.resolve().region_source == "environment (AWS_REGION)");
  CHECK(h.resolve({{"region", "me-south-1"}}).region == "me-south-1");
}

TEST_CASE("AWS chain: endpoint from the remote, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, services, endpoint_url",
          "[store][aws]") {
  // AWS CLI v2 documentation, "Service-specific endpoints": the service's variable, the global
  // variable, the profile's services section, the profile's endpoint_url; ignore_configured_
  // endpoint_urls (variable or profile key) turns all of them off.
  Home h{{"AWS_ACCESS_KEY_ID", "AK"}, {"AWS_SECRET_ACCESS_KEY", "SK"}};
  CHECK(h.resolve().endpoint_url == "");
  h.config("[default]\nendpoint_url = http://profile:1\n");
  CHECK(h.resolve().endpoint_url == "http://profile:1");
  h.config(
      "[default]\nendpoint_url = http://profile:1\nservices = local\n\n[services local]\ns3 =\n"
      "  endpoint_url = http://services-s3:2\n");
  CHECK(h.resolve().endpoint_url == "http://services-s3:2");
  CHECK(h.resolve().endpoint_source == (h.dir / ".aws/config").string() + " [services local] s3");
  h.env["AWS_ENDPOINT_URL"] = "http://global:3";
  CHECK(h.resolve().endpoint_url == "http://global:3");
  h.env["AWS_ENDPOINT_URL_S3"] = "http://s3var:4";
  CHECK(h.resolve().endpoint_url == "http://s3var:4");
  CHECK(h.resolve({{"endpoint_url", "http://remote:5"}}).endpoint_url == "http://remote:5");
  h.env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true";
  CHECK(h.resolve().endpoint_url == "");
  CHECK(h.resolve({{"endpoint_url", "http://remote:5"}}).endpoint_url == "http://remote:5");
  h.env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "";
  h.env["AWS_ENDPOINT_URL_S3"] = "";
  h.env["AWS_ENDPOINT_URL"] = "";
  h.config("[default]\nendpoint_url = http://profile:1\nignore_configured_endpoint_urls = true\n");
  CHECK(h.resolve().endpoint_url == "");
}

TEST_CASE("AWS chain: the shared files' INI format as botocore's configparser reads it", "[store][aws]") {
  Home h{{"AWS_PROFILE", "my dev"}};
  // Comments (# and ;), ':' as delimiter, upper-case keys, a continued value, a nested
  // section, a quoted profile name, sections botocore ignores, no final newline.
  h.config(
      "; config\n[profile \"my dev\"]\nregion: eu-central-1\ns3 =\n  addressing_style = path\n"
      "  signature_version = s3v4\n[sso-session x]\nsso_region = us-east-1\n[plain]\nregion = nowhere");
  h.credentials(
      "[my dev]\n# keys\nAWS_ACCESS_KEY_ID = AKQUOTED\naws_secret_access_key = first\n  second\n"
      "    \n  third\n[other]\nx=1");
  Resolved r = h.same_as_botocore();
  CHECK(r.credentials.secret_access_key == "first\nsecond\n\nthird");
  CHECK(r.region == "eu-central-1");
  store::aws::IniFile f = store::aws::parse_ini(read_file(h.dir / ".aws/config"), "config");
  REQUIRE(f.sections.size() == 3);
  REQUIRE(f.find("profile \"my dev\""));
  CHECK(f.find("profile \"my dev\"")->nested.at("s3").at("addressing_style") == "path");
}

TEST_CASE("AWS chain: bad input is a one-line error naming the file, the profile and the key", "[store][aws]") {
  Home h;
  std::string creds = (h.dir / ".aws/credentials").string(), conf = (h.dir / ".aws/config").string();
  SECTION("a profile in neither file") {
    h.credentials("[default]\naws_access_key_id = AK\naws_secret_access_key = SK\n");
    h.env["AWS_PROFILE"] = "nope";
    CHECK(h.botocore()["error"] == "ProfileNotFound");
    CHECK(h.error() == "remote origin: AWS profile 'nope' not found (read " + creds + " and " + conf + " (absent))");
    h.env["AWS_PROFILE"] = "";
    CHECK(h.botocore("nope")["error"] == "ProfileNotFound");
    CHECK(h.error({{"profile", "nope"}}).find("AWS profile 'nope' not found") != std::string::npos);
    // Even with every other setting in the remote's own config, as botocore.
    h.env["AWS_PROFILE"] = "nope";
    CHECK(h.error({{"access_key_id", "A"}, {"secret_access_key", "S"}, {"region", "r"}}) != "");
  }
  SECTION("a syntax error in the credentials file names the file and the line") {
    struct Bad {
      std::string text, msg;
    } cases[] = {
        {"[default]\naws_access_key_id = AK\nthis is not a key\n",
         creds + ":3: syntax error: 'this is not a key' is not 'key = value' (in [default])"},
        {"aws_access_key_id = AK\n[default]\n", creds + ":1: syntax error: 'aws_access_key_id = AK' comes before any "
                                                        "[section] header"},
        {"[default]\na = 1\n[default]\n", creds + ":3: section [default] appears twice"},
        {"[default]\na = 1\nA = 2\n", creds + ":3: key 'a' appears twice in [default]"},
        {"[default\n", creds + ":1: syntax error: '[default' is not a [section] header"},
        {"[default]\ns3 =\n  no equals here\n", creds + ":2: nested value 'no equals here' is not 'key = value'"},
    };
    for (const Bad& b : cases) {
      h.credentials(b.text);
      INFO(b.text);
      CHECK(h.botocore()["error"] == "ConfigParseError");
      CHECK(h.error() == b.msg);
    }
  }
  SECTION("partial credentials") {
    h.credentials("[default]\naws_access_key_id = AK\n");
    CHECK(h.botocore()["error"] == "PartialCredentialsError");
    CHECK(h.error() == "remote origin: " + creds +
                           " [default]: aws_access_key_id is set but aws_secret_access_key "
                           "is not");
    h.env["AWS_ACCESS_KEY_ID"] = "AK";
    CHECK(h.botocore()["error"] == "PartialCredentialsError");
    CHECK(h.error() == "remote origin: environment: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
    CHECK(h.error({{"access_key_id", "AK"}}) ==
          "remote origin: remote config: access_key_id is set but secret_access_key is not");
  }
  SECTION("unsupported sources are named, with the profile's file and key") {
    std::string tail =
        " is not supported by mvc; give the profile aws_access_key_id and aws_secret_access_key, or set "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY";
    h.config(
        "[profile sso]\nsso_start_url = https://x.awsapps.com/start\nsso_region = us-east-1\n"
        "[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = default\n"
        "[profile proc]\ncredential_process = /bin/get-creds\n");
    CHECK(h.error({{"profile", "sso"}}) ==
          "remote origin: " + conf + " [profile sso]: sso_region (AWS IAM Identity Center (SSO))" + tail);
    CHECK(h.error({{"profile", "role"}}) ==
          "remote origin: " + conf + " [profile role]: role_arn (assume role)" + tail);
    CHECK(h.error({{"profile", "proc"}}) ==
          "remote origin: " + conf + " [profile proc]: credential_process (an external process)" + tail);
    // Keys in the credentials file come before credential_process (botocore's order)...
    h.credentials("[proc]\naws_access_key_id = AKPROC\naws_secret_access_key = SKPROC\n");
    CHECK(h.resolve({{"profile", "proc"}}).credentials.access_key_id == "AKPROC");
    // ... and the environment before any of them.
    h.env["AWS_PROFILE"] = "role";
    h.env["AWS_ACCESS_KEY_ID"] = "AKENV";
    h.env["AWS_SECRET_ACCESS_KEY"] = "SKENV";
    CHECK(h.resolve().credentials.access_key_id == "AKENV");
  }
  SECTION("no credentials anywhere") {
    CHECK(h.botocore()["key"] == "");
    CHECK(h.error() ==
          "remote origin: no S3 credentials: none in the remote's config (access_key_id and "
          "secret_access_key in .mvc/config.local.toml), the environment (AWS_ACCESS_KEY_ID), " +
              creds + " [default] or " + conf +
              " [default]; instance metadata and container credentials are not supported");
  }
}
