// Flattened views of small TOML files (hparams.toml, metrics.toml) for display.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace mvc::core {

/// Key/value pairs with dotted keys for nested tables ("optimizer.lr", "0.05"), in file
/// order; values printed as TOML prints them (strings quoted). Throws mvc::Error(Exit::model)
/// "<name>:<line>:<column>: <why>" on a syntax error.
std::vector<std::pair<std::string, std::string>> flatten_toml(const std::string& text, const std::string& name);

}  // namespace mvc::core
