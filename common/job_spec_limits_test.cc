// Limits on a job spec's size, checked before yaml-cpp builds a node per entry: a 4 MB spec
// with a 2-million-entry list cost the coordinator about 1 GB. This binary counts the bytes
// it allocates (operator new is replaced below) to show that a refused spec costs little.
#include <atomic>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "tests/testing.h"

namespace {
std::atomic<int64_t> g_allocated{0};
}  // namespace

void* operator new(size_t bytes) {
  g_allocated.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  if (void* p = std::malloc(bytes == 0 ? 1 : bytes)) return p;
  throw std::bad_alloc();
}
// Every form is replaced: a sanitiser's runtime provides the ones left out, and its delete
// must not see this file's blocks (nor this delete its blocks).
void* operator new[](size_t bytes) { return operator new(bytes); }
void* operator new(size_t bytes, const std::nothrow_t&) noexcept {
  g_allocated.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  return std::malloc(bytes == 0 ? 1 : bytes);
}
void* operator new[](size_t bytes, const std::nothrow_t& tag) noexcept {
  return operator new(bytes, tag);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace psd {
namespace {

constexpr char kData[] =
    "data:\n"
    "  train_images: /d/train-images\n"
    "  train_labels: /d/train-labels\n"
    "  test_images: /d/test-images\n"
    "  test_labels: /d/test-labels\n";

struct Parsed {
  std::string error;  // "(parsed)" if it parsed
  int64_t allocated;  // bytes allocated while parsing
};

Parsed Parse(const std::string& text, const ParseOptions& options = {}) {
  const int64_t before = g_allocated.load();
  absl::StatusOr<JobSpec> spec = ParseJobSpec(text, "job.yaml", options);
  Parsed p{spec.ok() ? "(parsed)" : std::string(spec.status().message()),
           g_allocated.load() - before};
  if (!spec.ok()) CHECK(spec.status().code() == absl::StatusCode::kInvalidArgument);
  return p;
}

// A flow list of `n` ones: "[1, 1, ...]".
std::string Ones(int64_t n) {
  std::string list = "[";
  for (int64_t i = 0; i < n; ++i) absl::StrAppend(&list, i == 0 ? "1" : ", 1");
  return list + "]";
}

TEST_CASE("a spec longer than the limit is refused before it is parsed") {
  const std::string spec = absl::StrCat("name: job\n", kData);
  std::string padded = spec + std::string(kDefaultMaxSpecBytes - spec.size(), '\n');
  CHECK(Parse(padded).error == "(parsed)");
  padded += "\n";
  Parsed big = Parse(padded);
  CHECK(big.error == absl::StrCat("job.yaml: ", kDefaultMaxSpecBytes + 1,
                                  " bytes, more than the limit of ", kDefaultMaxSpecBytes,
                                  " bytes for a job spec"));
  CHECK(big.allocated < (1 << 16));
  ParseOptions small;
  small.max_spec_bytes = 100;
  CHECK(Parse(spec, small).error == absl::StrCat("job.yaml: ", spec.size(),
                                                 " bytes, more than the limit of 100 bytes "
                                                 "for a job spec"));
}

TEST_CASE("a spec of too many YAML nodes is refused without building them") {
  // 400,000 entries in 1.2 MB would be 400,000 yaml-cpp nodes; the limit refuses them while
  // counting, having allocated little more than a copy of the text.
  ParseOptions roomy;
  roomy.max_spec_bytes = 2 << 20;
  const std::string list =
      absl::StrCat("name: job\n", kData, "model:\n  hidden: ", Ones(400000), "\n");
  Parsed p = Parse(list, roomy);
  CHECK(p.error == absl::StrCat("job.yaml:8: yaml: more than ", kMaxSpecNodes,
                                " YAML nodes (values, lists and maps); a job spec has far fewer"));
  INFO("allocated " << p.allocated << " bytes for a " << list.size() << "-byte spec");
  CHECK(p.allocated < 4 * static_cast<int64_t>(list.size()) + (8 << 20));
  // Block lists and maps count the same way.
  std::string block = absl::StrCat("name: job\n", kData, "extra:\n");
  for (int64_t i = 0; i < kMaxSpecNodes; ++i) absl::StrAppend(&block, "  k", i, ": v\n");
  CHECK_THAT(Parse(block).error, Catch::EndsWith("a job spec has far fewer"));
}

TEST_CASE("model.hidden has at most kMaxHiddenLayers layers") {
  const std::string head = absl::StrCat("name: job\n", kData, "model:\n  hidden: ");
  CHECK(Parse(head + Ones(kMaxHiddenLayers) + "\n").error == "(parsed)");
  CHECK(Parse(head + Ones(kMaxHiddenLayers + 1) + "\n").error ==
        absl::StrCat("job.yaml:8: model.hidden: at most ", kMaxHiddenLayers, " layers, got ",
                     kMaxHiddenLayers + 1));
}

TEST_CASE("paths are at most kMaxPathBytes long") {
  const std::string longest(kMaxPathBytes, 'p');
  const std::string spec = absl::StrCat("name: job\n", kData, "checkpoint:\n  dir: ");
  CHECK(Parse(spec + longest + "\n").error == "(parsed)");
  CHECK(Parse(spec + longest + "p\n").error == absl::StrCat("job.yaml:8: checkpoint.dir: at most ",
                                                            kMaxPathBytes, " bytes, got ",
                                                            kMaxPathBytes + 1));
  std::string data = absl::StrCat("name: job\n", kData);
  data.replace(data.find("/d/train-images"), 15, longest + "p");
  CHECK(Parse(data).error == absl::StrCat("job.yaml:3: data.train_images: at most ", kMaxPathBytes,
                                          " bytes, got ", kMaxPathBytes + 1));
}

}  // namespace
}  // namespace psd
