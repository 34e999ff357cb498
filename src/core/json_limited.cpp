#include "core/json_limited.h"

#include "core/error.h"

namespace sgt {

void check_json_depth(std::string_view text, const std::string& where, int max_depth) {
  // One linear pass with a counter instead of a recursive descent: the check itself must not be what overflows.
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;  // skip the escaped character (\" does not end the string)
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      SGT_CHECK(++depth <= max_depth, "json", "{}: JSON nested deeper than {} levels (at byte {})", where, max_depth,
                i);
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace sgt
