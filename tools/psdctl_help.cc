#include "tools/psdctl_help.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace psd::psdctl {
namespace {

// Columns of the lists: a command's usage, a flag's usage, then the text.
constexpr int kCommandColumn = 44;
constexpr int kFlagColumn = 26;

// "  <left padded to width> <text>"; a left side too wide for the column puts the text on the
// next line, aligned with the others.
std::string Row(const std::string& left, absl::string_view text, int width) {
  if (static_cast<int>(left.size()) <= width) {
    return absl::StrFormat("  %-*s %s\n", width, left, text);
  }
  return absl::StrFormat("  %s\n  %-*s %s\n", left, width, "", text);
}

void AppendFlags(const std::vector<Flag>& flags, std::string* out) {
  for (const Flag& f : flags) absl::StrAppend(out, Row(FlagUsage(f), f.help, kFlagColumn));
}

}  // namespace

std::string FlagUsage(const Flag& flag) {
  const std::string alias = flag.short_name.empty() ? "" : absl::StrCat("-", flag.short_name, "|");
  return flag.takes_value() ? absl::StrCat(alias, "--", flag.name, " ", flag.value_name)
                            : absl::StrCat(alias, "--", flag.name);
}

std::string CommandUsage(const Command& command) {
  std::string usage(command.name);
  for (int i = 0; i < command.max_args(); ++i) {
    const absl::string_view arg = command.args[i];
    absl::StrAppend(&usage, " ", i < command.min_args ? "" : "[", arg,
                    i < command.min_args ? "" : "]");
  }
  for (const Flag& f : command.flags) absl::StrAppend(&usage, " [", FlagUsage(f), "]");
  return usage;
}

std::string GeneralHelp(const CommandTable& table) {
  std::string out = absl::StrCat(table.program, ": ", table.about, "\n\nusage: ", table.program);
  for (const Flag& f : table.global_flags) absl::StrAppend(&out, " [", FlagUsage(f), "]");
  absl::StrAppend(&out, " COMMAND [ARGS]\n\ncommands:\n");
  for (const Command& c : table.commands) {
    absl::StrAppend(&out, Row(CommandUsage(c), c.summary, kCommandColumn));
  }
  absl::StrAppend(&out, "\nglobal flags:\n");
  AppendFlags(table.global_flags, &out);
  absl::StrAppend(&out, "\n", table.footer);
  return out;
}

std::string CommandHelp(const CommandTable& table, const Command& command) {
  std::string out = absl::StrCat("usage: ", table.program, " ", CommandUsage(command), "\n\n",
                                 command.help, "\n");
  if (!command.flags.empty()) {
    absl::StrAppend(&out, "\nflags:\n");
    AppendFlags(command.flags, &out);
  }
  absl::StrAppend(&out, "\nglobal flags:\n");
  AppendFlags(table.global_flags, &out);
  return out;
}

}  // namespace psd::psdctl
