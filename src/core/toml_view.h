// Views of small TOML files (hparams.toml, metrics.toml): flattened for display, typed for JSON.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

namespace mvc::core {

/// Key/value pairs with dotted keys for nested tables ("optimizer.lr", "0.05"), in file
/// order; values printed as TOML prints them (strings quoted). Throws mvc::Error(Exit::model)
/// "<name>:<line>:<column>: <why>" on a syntax error.
std::vector<std::pair<std::string, std::string>> flatten_toml(const std::string& text, const std::string& name);

/// The values of a TOML document as JSON, keys in file order: integers, floats, booleans and
/// strings as themselves (a float that is inf or nan as JSON null), tables as objects, arrays
/// as arrays, dates and times as their TOML text ("2026-11-29T09:30:12Z"). Throws as
/// flatten_toml does.
nlohmann::ordered_json toml_values(const std::string& text, const std::string& name);

}  // namespace mvc::core
