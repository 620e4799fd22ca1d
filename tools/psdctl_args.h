// Parses psdctl's argv against a command table (tools/psdctl_commands.h) into an Invocation:
// the command, its positional arguments and its flags as typed values. Pure: no I/O, no
// environment; a usage error is an InvalidArgument status whose message is the line to print.
#ifndef PSD_TOOLS_PSDCTL_ARGS_H_
#define PSD_TOOLS_PSDCTL_ARGS_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "tools/psdctl_commands.h"

namespace psd::psdctl {

// The value of a FlagType::kStepRange flag: steps `first` to `last`, both included.
struct StepRange {
  int64_t first = 0;
  int64_t last = 0;
  bool operator==(const StepRange& o) const { return first == o.first && last == o.last; }
};

// A flag's value, by its FlagType: kSwitch true, kString std::string, kDuration
// absl::Duration, kStepRange StepRange.
using FlagValue = std::variant<bool, std::string, absl::Duration, StepRange>;

// What the command line asks for. Three cases:
//  - help: print CommandHelp(*command), or GeneralHelp() when command is nullptr; exit 0;
//  - command == nullptr (and not help): no command given: print GeneralHelp(), exit 2;
//  - else run `command` with `args` (as many as it takes, none empty) and `flags`.
struct Invocation {
  const Command* command = nullptr;
  bool help = false;
  std::vector<std::string> args;
  std::map<std::string, FlagValue, std::less<>> flags;  // global and command flags given

  bool Has(absl::string_view flag) const { return flags.find(flag) != flags.end(); }
  // The flag's value if it was given (and is of that type), else nullopt.
  std::optional<std::string> String(absl::string_view flag) const;
  std::optional<absl::Duration> Duration(absl::string_view flag) const;
  std::optional<StepRange> Steps(absl::string_view flag) const;
};

// Parses `args` (argv without the program name). Flags, global or the command's, go before or
// after the command, as `--name value` or `--name=value`; `-h`/`--help` anywhere asks for help,
// as does `help [COMMAND]`; after `--` every word is a positional argument. A usage error reads
// like "unknown flag --wiat for submit; did you mean --wait? (see psdctl submit --help)".
absl::StatusOr<Invocation> ParseArgs(const CommandTable& table, absl::Span<const std::string> args);

// "10s", "500ms", "2m", or a number of seconds; nullopt unless it is a positive duration.
std::optional<absl::Duration> ParseDurationFlag(absl::string_view text);

// "A-B" with integers 0 <= A <= B; nullopt otherwise.
std::optional<StepRange> ParseStepRange(absl::string_view text);

}  // namespace psd::psdctl

#endif  // PSD_TOOLS_PSDCTL_ARGS_H_
