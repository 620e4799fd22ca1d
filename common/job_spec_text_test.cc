// A job spec's text must be UTF-8: other encodings and stray bytes are named, with where they
// are, before YAML sees them (yaml-cpp reads UTF-16 and passes bad bytes through, and the
// coordinator's protobuf strings then refused them with an empty error).
#include <string>

#include "absl/status/status.h"
#include "common/job_spec.h"
#include "tests/testing.h"

namespace psd {
namespace {

constexpr char kSpec[] =
    "name: job\n"
    "data:\n"
    "  train_images: /d/train-images\n"
    "  train_labels: /d/train-labels\n"
    "  test_images: /d/test-images\n"
    "  test_labels: /d/test-labels\n";

std::string ErrorOf(const std::string& text) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec(text, "job.yaml");
  if (spec.ok()) return "(parsed)";
  CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(spec.status().message());
}

// `text` in UTF-16 or UTF-32 (ASCII only), with a byte order mark.
std::string Widen(const std::string& text, int width, bool big_endian) {
  std::string out;
  auto put = [&](char32_t c) {
    for (int i = 0; i < width; ++i) {
      const int shift = 8 * (big_endian ? width - 1 - i : i);
      out.push_back(static_cast<char>((c >> shift) & 0xff));
    }
  };
  put(0xfeff);
  for (char c : text) put(static_cast<unsigned char>(c));
  return out;
}

TEST_CASE("UTF-16 and UTF-32 job files are named as such") {
  CHECK(ErrorOf(Widen(kSpec, 2, false)) ==
        "job.yaml: the file is UTF-16 (byte order mark); save it as UTF-8");
  CHECK(ErrorOf(Widen(kSpec, 2, true)) ==
        "job.yaml: the file is UTF-16 (byte order mark); save it as UTF-8");
  CHECK(ErrorOf(Widen(kSpec, 4, false)) ==
        "job.yaml: the file is UTF-32 (byte order mark); save it as UTF-8");
  CHECK(ErrorOf(Widen(kSpec, 4, true)) ==
        "job.yaml: the file is UTF-32 (byte order mark); save it as UTF-8");
  // Without a byte order mark, UTF-16 shows as NUL bytes.
  std::string no_bom = Widen(kSpec, 2, false).substr(2);
  CHECK(ErrorOf(no_bom) ==
        "job.yaml:1: yaml: a NUL byte at column 2 (byte offset 1); is the file UTF-16? save it "
        "as UTF-8");
  // A UTF-8 byte order mark is fine.
  CHECK(ErrorOf("\xef\xbb\xbf" + std::string(kSpec)) == "(parsed)");
}

TEST_CASE("bytes that are not UTF-8 are named with their line, column and offset") {
  // Latin-1 in a comment: passed validate, then broke submit.
  CHECK(ErrorOf(std::string(kSpec) + "# caf\xe9\n") ==
        "job.yaml:7: yaml: not valid UTF-8 at column 6 (byte 0xe9 at byte offset 145); save the "
        "file as UTF-8");
  // In a value, after a valid multi-byte character (columns count characters).
  CHECK(ErrorOf("name: \xc3\xa9t\xc3\n") ==
        "job.yaml:1: yaml: not valid UTF-8 at column 9 (byte 0xc3 at byte offset 9); save the "
        "file as UTF-8");
  // Overlong encodings, surrogates and code points past U+10FFFF are not UTF-8 either.
  CHECK_THAT(ErrorOf("name: \xc0\xaf\n"), Catch::StartsWith("job.yaml:1: yaml: not valid UTF-8"));
  CHECK_THAT(ErrorOf("name: \xed\xa0\x80\n"),
             Catch::StartsWith("job.yaml:1: yaml: not valid UTF-8"));
  CHECK_THAT(ErrorOf("name: \xf4\x90\x80\x80\n"),
             Catch::StartsWith("job.yaml:1: yaml: not valid UTF-8"));
  // Valid multi-byte UTF-8 in a comment is fine.
  CHECK(ErrorOf(std::string(kSpec) + "# caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\n") ==
        "(parsed)");
}

}  // namespace
}  // namespace psd
