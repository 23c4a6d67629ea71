// The expanded architecture description (schema "mvc.expanded/1", docs/python.md): the
// architecture after parsing and expansion, as JSON, with every option of every layer at its
// resolved value (defaults filled in), the graph's edges and the state_dict each layer
// registers. Torch-free. It is what the Python package builds its torch.nn.Module from (one
// implementation of the language: Python never parses arch.toml).
#pragma once

#include <string>
#include <vector>

#include "arch/arch.h"

namespace mvc::arch {

/// The schema's name and version; a change that an older reader would misread bumps it.
inline constexpr const char* kExpandedSchema = "mvc.expanded/1";

/// The description of `a` as JSON text (compact). Throws mvc::Error(Exit::model) for what
/// expected_state_dict throws (inconsistent options, duplicate names).
std::string describe_json(const Architecture& a);

/// The options of the type table whose documented default (OptionSpec::default_text) the
/// description cannot turn into a value ("Type.option"); empty when the table is consistent.
std::vector<std::string> unresolved_defaults();

}  // namespace mvc::arch
