#include <catch2/catch.hpp>

#include "util/csv.h"

namespace mvc::util {

TEST_CASE("csv fields are quoted only when RFC 4180 needs it", "[util][csv]") {
  CHECK(csv_field("plain") == "plain");
  CHECK(csv_field("") == "");
  CHECK(csv_field(" spaces kept ") == " spaces kept ");
  CHECK(csv_field("a,b") == "\"a,b\"");
  CHECK(csv_field("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(csv_field("two\nlines") == "\"two\nlines\"");
  CHECK(csv_field("cr\r") == "\"cr\r\"");
  CHECK(csv_record({"a", "b,c", ""}) == "a,\"b,c\",\r\n");
  CHECK(csv_record({}) == "\r\n");
}

}  // namespace mvc::util
