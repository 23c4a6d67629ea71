// One way to parse the TOML files mvc reads (config, pointers, hparams, metrics), with one
// error format. toml++ (https://marzer.github.io/tomlplusplus/) implements TOML 1.0.
#pragma once

#include <string>
#include <toml++/toml.h>

#include "mvc/error.h"

namespace mvc::core {

/// Parses `text`; on a syntax error throws mvc::Error(`code`, "<name>:<line>:<column>: <why>").
inline toml::table parse_toml(const std::string& text, const std::string& name, Exit code) {
  try {
    return toml::parse(text, name);
  } catch (const toml::parse_error& e) {
    throw Error(code, name + ":" + std::to_string(e.source().begin.line) + ":" +
                          std::to_string(e.source().begin.column) + ": " + std::string(e.description()));
  }
}

}  // namespace mvc::core
