// The help texts of a command table (tools/psdctl_commands.h): the program's list of
// commands and one command's usage, help and flags.
#ifndef PSD_TOOLS_PSDCTL_HELP_H_
#define PSD_TOOLS_PSDCTL_HELP_H_

#include <string>

#include "tools/psdctl_commands.h"

namespace psd::psdctl {

// "--resume-from DIR", or "--wait" for a switch.
std::string FlagUsage(const Flag& flag);

// "submit FILE [--wait] [--resume-from DIR]"; optional arguments in brackets.
std::string CommandUsage(const Command& command);

// `psdctl --help`: the program's usage line, every command with its summary, the global flags
// and the table's footer.
std::string GeneralHelp(const CommandTable& table);

// `psdctl help COMMAND`: "usage: psdctl COMMAND ...", its help, its flags and the global flags.
std::string CommandHelp(const CommandTable& table, const Command& command);

}  // namespace psd::psdctl

#endif  // PSD_TOOLS_PSDCTL_HELP_H_
