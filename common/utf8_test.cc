#include "common/utf8.h"

#include "tests/testing.h"

namespace psd {
namespace {

TEST_CASE("FirstInvalidUtf8 finds the first byte outside valid UTF-8") {
  constexpr size_t npos = absl::string_view::npos;
  CHECK(FirstInvalidUtf8("") == npos);
  CHECK(FirstInvalidUtf8("plain ascii") == npos);
  CHECK(FirstInvalidUtf8("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf") == npos);
  CHECK(FirstInvalidUtf8("caf\xe9") == 3);           // Latin-1
  CHECK(FirstInvalidUtf8("ab\xc3") == 2);            // cut short
  CHECK(FirstInvalidUtf8("\xc0\xaf") == 0);          // overlong '/'
  CHECK(FirstInvalidUtf8("\xe0\x80\xaf") == 0);      // overlong
  CHECK(FirstInvalidUtf8("x\xed\xa0\x80") == 1);     // a surrogate
  CHECK(FirstInvalidUtf8("\xf4\x90\x80\x80") == 0);  // past U+10FFFF
  CHECK(FirstInvalidUtf8("\xff\xfe") == 0);          // a UTF-16 byte order mark
  CHECK(FirstInvalidUtf8("\xe2\x82\xac\x80") == 3);  // a stray continuation byte
}

TEST_CASE("Utf8Escape writes the bytes that are not UTF-8 as \\xNN") {
  CHECK(Utf8Escape("caf\xc3\xa9") == "caf\xc3\xa9");
  CHECK(Utf8Escape("caf\xe9.yaml") == "caf\\xe9.yaml");
  CHECK(Utf8Escape("\xff\xfe") == "\\xff\\xfe");
  CHECK(FirstInvalidUtf8(Utf8Escape("a\xc3\xc3\xa9\x80")) == absl::string_view::npos);
}

}  // namespace
}  // namespace psd
