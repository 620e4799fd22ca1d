#include "fuzz/fuzz_util.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "spdlog/spdlog.h"

namespace psd::fuzz {
namespace {

// psd's logs cost more than the code under test and bury libFuzzer's output: off unless
// PSD_FUZZ_LOG is set.
const bool kQuiet = [] {
  if (std::getenv("PSD_FUZZ_LOG") == nullptr) spdlog::set_level(spdlog::level::off);
  return true;
}();

}  // namespace

const std::string& ScratchDir() {
  static const std::string* dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern =
        std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/psd-fuzz.XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) {
      std::perror("psd fuzz: mkdtemp");
      std::abort();
    }
    auto* d = new std::string(pattern);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*dir, ec);
    });
    return d;
  }();
  return *dir;
}

void WriteFileOrDie(const std::string& path, absl::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) {
    std::fprintf(stderr, "psd fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
}

}  // namespace psd::fuzz
