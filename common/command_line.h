// Flag parsing for psd's programs: Abseil flags, plus a --help that lists psd's own flags.
#ifndef PSD_COMMON_COMMAND_LINE_H_
#define PSD_COMMON_COMMAND_LINE_H_

#include <string>

namespace psd {

// Every flag defined in psd's own sources (not in the libraries it links), one paragraph
// each: "--name (default: value)" and its help text, sorted by name.
std::string ProgramFlagsHelp();

// Parses argv with Abseil. `--help`, `-help`, `-h` and `--helpshort` print `usage` and
// ProgramFlagsHelp() to stdout and exit 0; unknown flags exit 1 as Abseil does.
void ParseCommandLineOrHelp(int argc, char** argv, const char* usage);

}  // namespace psd

#endif  // PSD_COMMON_COMMAND_LINE_H_
