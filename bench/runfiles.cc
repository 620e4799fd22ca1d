#include "bench/runfiles.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace psd::bench {

absl::Status EnterRunfiles(const std::string& target) {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot read /proc/self/exe: ", ec.message()));
  const char* env = std::getenv("RUNFILES_DIR");
  for (const std::filesystem::path& root : {std::filesystem::path(exe.string() + ".runfiles/psd"),
                                            std::filesystem::path(env ? env : "") / "psd"}) {
    if (std::filesystem::exists(root, ec) && std::filesystem::is_directory(root, ec)) {
      std::filesystem::current_path(root, ec);
      if (!ec) return absl::OkStatus();
    }
  }
  return absl::NotFoundError(absl::StrCat("no runfiles beside ", exe.string(),
                                          ": run the binary that `bazel build ", target, "` made"));
}

}  // namespace psd::bench
