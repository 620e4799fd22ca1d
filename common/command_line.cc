#include "common/command_line.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/algorithm/container.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/parse.h"
#include "absl/flags/reflection.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace psd {
namespace {

// Abseil's own flags (--flagfile, --fromenv, ...) come from its sources; psd's from a
// workspace-relative path.
bool IsProgramFlag(const absl::CommandLineFlag& flag) {
  const std::string file = flag.Filename();
  return !flag.IsRetired() && !absl::StartsWith(file, "/") && !absl::StartsWith(file, "absl/") &&
         !absl::StrContains(file, "/absl/");
}

bool IsHelpArgument(absl::string_view arg) {
  return arg == "--help" || arg == "-help" || arg == "-h" || arg == "--helpshort";
}

}  // namespace

std::string ProgramFlagsHelp() {
  std::vector<const absl::CommandLineFlag*> flags;
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (IsProgramFlag(*flag)) flags.push_back(flag);
  }
  absl::c_sort(flags, [](const absl::CommandLineFlag* a, const absl::CommandLineFlag* b) {
    return a->Name() < b->Name();
  });
  std::string out;
  for (const absl::CommandLineFlag* flag : flags) {
    std::string value = flag->DefaultValue();
    if (value.empty()) value = "\"\"";
    absl::StrAppend(&out, "  --", flag->Name(), " (default: ", value, ")\n      ", flag->Help(),
                    "\n");
  }
  return out;
}

void ParseCommandLineOrHelp(int argc, char** argv, const char* usage) {
  absl::SetProgramUsageMessage(usage);
  for (int i = 1; i < argc; ++i) {
    const absl::string_view arg = argv[i];
    if (arg == "--") break;
    if (IsHelpArgument(arg)) {
      std::printf("%s\n\nFlags:\n%s", usage, ProgramFlagsHelp().c_str());
      std::exit(0);
    }
  }
  absl::ParseCommandLine(argc, argv);
}

}  // namespace psd
