// mvc::Error (include/mvc/error.h): every message one printable line.
#include "mvc/error.h"

#include "util/text.h"

namespace mvc {

Error::Error(Exit code, const std::string& message) : std::runtime_error(util::printable(message)), code_(code) {}

}  // namespace mvc
