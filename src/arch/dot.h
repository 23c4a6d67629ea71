// Graphviz DOT of an architecture (`mvc show --dot`, docs/user-guide.md): drawn from the
// expanded description (describe.h), one node per layer with its type, output shape and
// trainable parameters, an ellipse per graph input and output, and an edge for every value a
// layer reads. Torch-free.
#pragma once

#include <string>

#include "arch/arch.h"

namespace mvc::arch {

/// The DOT text (a `digraph`). Layer nodes are named by the layer's full name; input nodes
/// "input NAME", output nodes "output NAME" (layer names hold no spaces). An edge reading one
/// output of a layer with several ("lstm[1]") is labelled with the index. Throws as
/// describe_json does.
/// `svg_marks`: also give each node the attributes Graphviz carries into its SVG (`mvc report`):
/// `id="layer-NAME"` and `class="layer"` on a layer, `class="input"` / `class="output"` on the
/// graph's inputs and outputs, so a page's scripts and tests can find them.
std::string architecture_dot(const Architecture& a, bool svg_marks = false);

}  // namespace mvc::arch
