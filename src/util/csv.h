// CSV as RFC 4180 writes it: fields separated by commas, records ended by CRLF; a field that
// holds a comma, a double quote, CR or LF is enclosed in double quotes, with each double quote
// doubled.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mvc::util {

/// One field, quoted when it must be.
std::string csv_field(std::string_view s);
/// One record: the fields joined by commas, then CRLF.
std::string csv_record(const std::vector<std::string>& fields);

}  // namespace mvc::util
