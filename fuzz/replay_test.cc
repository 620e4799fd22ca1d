// The replay of a fuzz target in the ordinary test suite (any compiler, any config): every
// seed of fuzz/corpus/<target>/ and every input that once broke it, fuzz/regressions/<target>/,
// through the target's LLVMFuzzerTestOneInput. A FUZZ_CHECK or a sanitizer report ends the
// binary, which tests/run.sh counts as a failed test case; the log names the input.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/testing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

namespace fs = std::filesystem;

// The inputs in runfiles dir fuzz/<kind>/PSD_FUZZ_TARGET, in name order.
std::vector<fs::path> Inputs(const std::string& kind) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  const fs::path dir = fs::path(srcdir != nullptr ? srcdir : ".") /
                       (workspace != nullptr ? workspace : "psd") / "fuzz" / kind /
                       PSD_FUZZ_TARGET;
  std::vector<fs::path> files;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void Replay(const std::string& kind, bool must_exist) {
  static const bool initialized = [] {
    if (LLVMFuzzerInitialize != nullptr) {
      int argc = 0;
      char** argv = nullptr;
      LLVMFuzzerInitialize(&argc, &argv);
    }
    return true;
  }();
  (void)initialized;
  const std::vector<fs::path> files = Inputs(kind);
  if (must_exist) REQUIRE(!files.empty());
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    // Printed first, so that a crash's log ends with the input that caused it.
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", f.filename().c_str(), bytes.size());
    std::vector<uint8_t> data(bytes.begin(), bytes.end());  // exactly sized, as libFuzzer does
    LLVMFuzzerTestOneInput(data.data(), data.size());
  }
}

TEST_CASE("the fuzz target's seeds run clean") { Replay("corpus", true); }

TEST_CASE("the inputs that once broke the fuzz target run clean") { Replay("regressions", false); }

}  // namespace
