// One way to parse the TOML files mvc reads (config, pointers, hparams, metrics), with one
// error format. toml++ (https://marzer.github.io/tomlplusplus/) implements TOML 1.0.
#pragma once

#include <toml++/toml.h>
#include <string>

#include "mvc/error.h"
#include "util/text.h"

namespace mvc::core {

/// Parses `text`; on a syntax error throws mvc::Error(`code`, "<name>:<line>:<column>: <why>"),
/// or "<name>:<line>:1: holds merge conflict markers..." when the text holds them.
inline toml::table parse_toml(const std::string& text, const std::string& name, Exit code) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    if (std::size_t line = util::conflict_marker_line(text))
      throw Error(code, name + ":" + std::to_string(line) + ":1: " + util::kConflictMarkersWhy);
    throw Error(code, name + ":" + std::to_string(e.source().begin.line) + ":" +
                          std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
}

}  // namespace mvc::core
