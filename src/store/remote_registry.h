// The table of remote backends (after ccache's remote storage table): each URL scheme maps to
// one backend, which owns its configuration keys, its URL check and its factory. Config
// loading (core/config.cpp), `mvc remote add` and open_remote() all ask this table, so a new
// kind of remote is one file defining a RemoteBackend plus one line in kBackends
// (remote_registry.cpp) -- and one line in tests/cli/test_remote_conformance.cpp's list of
// backends. See docs/conventions.md, "Adding a remote backend".
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "store/remote.h"

namespace mvc::store {

/// One configuration key of a backend (`[remote.NAME] key = value`).
struct RemoteKey {
  enum class Type { string, size, choice };
  std::string name;
  Type type = Type::string;          ///< size: a positive integer (bytes); choice: one of `choices`
  std::vector<std::string> choices;  ///< for Type::choice
  bool credential = false;           ///< accepted only in config.local.toml (never committed)
  std::string list_label;            ///< `mvc remote list` shows "<label>=<value>" ("" = not shown)
};

struct RemoteBackend {
  std::string name;                  ///< "folder", "s3": in messages
  std::vector<std::string> schemes;  ///< URL schemes it serves; "" = a plain path (no "://")
  std::string url_form;              ///< "s3://BUCKET[/PREFIX]", for messages
  std::vector<RemoteKey> keys;       ///< its configuration keys besides `url`
  /// Why `url` (of one of `schemes`) is unusable, or "" when it is fine.
  std::string (*check_url)(const std::string& url) = nullptr;
  /// Opens the remote; spec.url passed check_url and every option check_option.
  std::unique_ptr<Remote> (*open)(const RemoteSpec& spec) = nullptr;
};

/// Every backend, in the order messages list them.
const std::vector<const RemoteBackend*>& remote_backends();

/// The backend serving `url`'s scheme (the text before "://", or "" for a path); nullptr if none.
const RemoteBackend* find_backend(const std::string& url);

/// Why `url` cannot name a remote ("" when it can): an unknown scheme (the message lists the
/// supported forms) or the backend's own check.
std::string check_url(const std::string& url);

/// Key `key` of `backend`, or nullptr.
const RemoteKey* find_key(const RemoteBackend& backend, const std::string& key);

/// "url, endpoint_url, region, ...": every key `backend` accepts, for messages.
std::string valid_keys(const RemoteBackend& backend);

/// Why `value` (a size in decimal) is not acceptable for `key`, or "" when it is.
std::string check_option(const RemoteKey& key, const std::string& value);

}  // namespace mvc::store
