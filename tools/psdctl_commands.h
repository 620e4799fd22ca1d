// psdctl's command table: each command's name, positional arguments, flags with their
// types, and help texts. Data only; tools/psdctl_args.h parses argv against it and
// tools/psdctl_help.h renders its help.
#ifndef PSD_TOOLS_PSDCTL_COMMANDS_H_
#define PSD_TOOLS_PSDCTL_COMMANDS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace psd::psdctl {

// What a flag's value must be; the parser checks it and stores the typed value.
enum class FlagType {
  kSwitch,     // no value: present or not
  kString,     // any non-empty text
  kDuration,   // positive: "10s", "500ms", "2m", or a number of seconds
  kStepRange,  // "A-B": steps A to B, both included, 0 <= A <= B
};

struct Flag {
  absl::string_view name;  // without the leading "--"
  FlagType type = FlagType::kSwitch;
  absl::string_view value_name;  // its value's placeholder in help ("DIR"); empty for a switch
  absl::string_view help;
  // Another flag of the same command that must be given exactly when this one is.
  absl::string_view goes_with = {};
  // A one-letter alias, given as "-o VALUE" ("o"); empty: none.
  absl::string_view short_name = {};

  bool takes_value() const { return type != FlagType::kSwitch; }
};

// Which implementation runs a command; psdctl.cc dispatches on it.
enum class CommandId {
  kValidate,
  kSubmit,
  kStatus,
  kList,
  kCancel,
  kNodes,
  kTop,
  kWait,
  kCheckpoint,
  kScale,
  kTrace,
  kEval,
  kHelp,
};

struct Command {
  CommandId id;
  absl::string_view name;
  // Placeholders of the positional arguments, in order ("JOB"); the first `min_args` are
  // required, the rest optional, and there are at most `args.size()`.
  std::vector<absl::string_view> args;
  int min_args = 0;
  absl::string_view summary;  // one line, for the list of commands
  absl::string_view help;     // a paragraph, for `psdctl help COMMAND`
  std::vector<Flag> flags;

  int max_args() const { return static_cast<int>(args.size()); }
  // The flag of this command named `name` (without "--"), or nullptr.
  const Flag* FindFlag(absl::string_view name) const;
};

// A program's commands and the flags every command takes.
struct CommandTable {
  absl::string_view program;  // "psdctl"
  absl::string_view about;    // one line after the program's name in its help
  absl::string_view footer;   // the last paragraph of its help (exit codes)
  std::vector<Flag> global_flags;
  std::vector<Command> commands;  // in the order help lists them

  const Command* FindCommand(absl::string_view name) const;
  const Flag* FindGlobalFlag(absl::string_view name) const;
};

// psdctl's table. Its `help` command (CommandId::kHelp) is answered by the parser; its global
// flags are --coordinator (kString) and --timeout (kDuration).
const CommandTable& PsdctlCommands();

}  // namespace psd::psdctl

#endif  // PSD_TOOLS_PSDCTL_COMMANDS_H_
