#include "tools/psdctl_args.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/closest_name.h"
#include "common/status_macros.h"

namespace psd::psdctl {
namespace {

bool IsHelp(const Command* c) { return c != nullptr && c->id == CommandId::kHelp; }

// What a parse has seen so far, and how to word an error in its context.
class Parser {
 public:
  explicit Parser(const CommandTable& table) : table_(table) {}

  absl::StatusOr<Invocation> Parse(absl::Span<const std::string> args);

 private:
  // The command whose flags and help apply: the one `help` names, else the one given.
  const Command* Current() const { return help_target_ != nullptr ? help_target_ : inv_.command; }

  absl::Status Error(absl::string_view message, const Command* context) const {
    return absl::InvalidArgumentError(
        absl::StrCat(table_.program, ": ", message, " (see ", table_.program, " ",
                     context != nullptr ? absl::StrCat(context->name, " ") : "", "--help)"));
  }
  absl::Status Error(absl::string_view message) const { return Error(message, Current()); }

  // `--name[=value]` at args[*i]; a value in the next word moves *i on.
  absl::Status ParseFlag(absl::Span<const std::string> args, size_t* i);
  absl::Status UnknownFlag(absl::string_view name) const;
  absl::StatusOr<FlagValue> ParseValue(const Flag& flag, const std::string& value) const;
  absl::Status ParseWord(const std::string& word);
  // The current command's flag whose one-letter alias `arg` is ("-o"), or null.
  const Flag* ShortFlag(const std::string& arg) const {
    if (arg.size() != 2 || arg[0] != '-' || arg[1] == '-' || Current() == nullptr) return nullptr;
    for (const Flag& f : Current()->flags) {
      if (!f.short_name.empty() && f.short_name == absl::string_view(arg).substr(1)) return &f;
    }
    return nullptr;
  }
  absl::StatusOr<const Command*> FindCommand(const std::string& name) const;
  absl::Status CheckArgs() const;
  absl::Status CheckFlagPairs() const;

  const CommandTable& table_;
  Invocation inv_;
  const Command* help_target_ = nullptr;  // the COMMAND of `help COMMAND`
};

absl::StatusOr<Invocation> Parser::Parse(absl::Span<const std::string> args) {
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (!flags_done && arg == "--") {
      flags_done = true;
    } else if (!flags_done && (arg == "-h" || arg == "--help")) {
      inv_.help = true;
    } else if (!flags_done && absl::StartsWith(arg, "--")) {
      PSD_RETURN_IF_ERROR(ParseFlag(args, &i));
    } else if (const Flag* alias = !flags_done ? ShortFlag(arg) : nullptr; alias != nullptr) {
      // "-o FILE" is "--output FILE".
      if (i + 1 >= args.size()) return Error(absl::StrCat(arg, " needs a value"));
      const std::vector<std::string> spelled = {absl::StrCat("--", alias->name), args[i + 1]};
      size_t at = 0;
      PSD_RETURN_IF_ERROR(ParseFlag(spelled, &at));
      ++i;
    } else {
      PSD_RETURN_IF_ERROR(ParseWord(arg));
    }
  }
  if (IsHelp(inv_.command)) {
    // `help [COMMAND]` is `[COMMAND] --help`.
    inv_.command = help_target_;
    inv_.help = true;
  }
  if (inv_.help) inv_.args.clear();  // help takes none of the command's arguments
  if (inv_.help || inv_.command == nullptr) return std::move(inv_);
  PSD_RETURN_IF_ERROR(CheckArgs());
  PSD_RETURN_IF_ERROR(CheckFlagPairs());
  return std::move(inv_);
}

absl::Status Parser::ParseFlag(absl::Span<const std::string> args, size_t* i) {
  std::string name = args[*i].substr(2);
  std::string value;
  const size_t eq = name.find('=');
  const bool has_value = eq != std::string::npos;
  if (has_value) {
    value = name.substr(eq + 1);
    name.resize(eq);
  }
  const Flag* flag = table_.FindGlobalFlag(name);
  if (flag == nullptr && Current() != nullptr) flag = Current()->FindFlag(name);
  if (flag == nullptr) return UnknownFlag(name);
  if (flag->takes_value() && !has_value) {
    if (*i + 1 >= args.size()) return Error(absl::StrCat("--", name, " needs a value"));
    value = args[++*i];
  } else if (!flag->takes_value() && has_value) {
    return Error(absl::StrCat("--", name, " takes no value"));
  }
  PSD_ASSIGN_OR_RETURN(FlagValue typed, ParseValue(*flag, value));
  inv_.flags[name] = std::move(typed);
  return absl::OkStatus();
}

absl::Status Parser::UnknownFlag(absl::string_view name) const {
  const Command* command = Current();
  std::vector<std::string> known = {"help"};
  for (const Flag& f : table_.global_flags) known.emplace_back(f.name);
  if (command != nullptr) {
    for (const Flag& f : command->flags) known.emplace_back(f.name);
  } else {
    // A command's flag given before the command: say where it goes.
    std::vector<absl::string_view> owners;
    for (const Command& c : table_.commands) {
      if (c.FindFlag(name) != nullptr) owners.push_back(c.name);
    }
    if (!owners.empty()) {
      return Error(absl::StrCat("--", name, " is a flag of ", absl::StrJoin(owners, " and "),
                                "; give it after the command"));
    }
  }
  std::string message = absl::StrCat("unknown flag --", name);
  if (command != nullptr) absl::StrAppend(&message, " for ", command->name);
  if (std::optional<std::string> close = ClosestName(name, known)) {
    absl::StrAppend(&message, "; did you mean --", *close, "?");
  }
  return Error(message);
}

absl::StatusOr<FlagValue> Parser::ParseValue(const Flag& flag, const std::string& value) const {
  switch (flag.type) {
    case FlagType::kSwitch:
      return FlagValue(true);
    case FlagType::kString:
      if (value.empty()) return Error(absl::StrCat("--", flag.name, ": needs ", flag.value_name));
      return FlagValue(value);
    case FlagType::kDuration:
      if (std::optional<absl::Duration> d = ParseDurationFlag(value)) return FlagValue(*d);
      return Error(absl::StrCat("--", flag.name, ": expected a duration like 10s or 500ms, got '",
                                value, "'"));
    case FlagType::kStepRange:
      if (std::optional<StepRange> r = ParseStepRange(value)) return FlagValue(*r);
      return Error(absl::StrCat("--", flag.name,
                                ": expected steps A-B like 100-120 (A <= B), got '", value, "'"));
  }
  return Error(absl::StrCat("--", flag.name, ": flag of an unknown type"));
}

absl::StatusOr<const Command*> Parser::FindCommand(const std::string& name) const {
  if (const Command* c = table_.FindCommand(name)) return c;
  std::vector<std::string> names;
  for (const Command& c : table_.commands) names.emplace_back(c.name);
  std::string message = absl::StrCat("unknown command '", name, "'");
  if (std::optional<std::string> close = ClosestName(name, names)) {
    absl::StrAppend(&message, "; did you mean '", *close, "'?");
  }
  return Error(message, nullptr);
}

absl::Status Parser::ParseWord(const std::string& word) {
  if (inv_.command == nullptr) {
    PSD_ASSIGN_OR_RETURN(inv_.command, FindCommand(word));
  } else if (IsHelp(inv_.command) && help_target_ == nullptr) {
    PSD_ASSIGN_OR_RETURN(help_target_, FindCommand(word));
  } else if (IsHelp(inv_.command)) {
    return Error(absl::StrCat("help: unexpected argument '", word, "'"), inv_.command);
  } else {
    inv_.args.push_back(word);
  }
  return absl::OkStatus();
}

absl::Status Parser::CheckArgs() const {
  const Command& c = *inv_.command;
  const int given = static_cast<int>(inv_.args.size());
  if (given < c.min_args) {
    return Error(
        absl::StrCat(c.name, ": expected ",
                     absl::StrJoin(c.args.begin() + given, c.args.begin() + c.min_args, " ")));
  }
  if (given > c.max_args()) {
    return Error(absl::StrCat(c.name, ": unexpected argument '", inv_.args[c.max_args()], "'"));
  }
  for (int i = 0; i < given; ++i) {
    if (inv_.args[i].empty()) return Error(absl::StrCat(c.name, ": empty ", c.args[i]));
  }
  return absl::OkStatus();
}

absl::Status Parser::CheckFlagPairs() const {
  const Command& c = *inv_.command;
  for (const Flag& f : c.flags) {
    if (!f.goes_with.empty() && inv_.Has(f.name) != inv_.Has(f.goes_with)) {
      return Error(absl::StrCat(c.name, ": --", f.name, " and --", f.goes_with, " go together"));
    }
  }
  return absl::OkStatus();
}

template <typename T>
std::optional<T> Get(const Invocation& inv, absl::string_view flag) {
  auto it = inv.flags.find(flag);
  if (it == inv.flags.end()) return std::nullopt;
  if (const T* value = std::get_if<T>(&it->second)) return *value;
  return std::nullopt;
}

}  // namespace

std::optional<std::string> Invocation::String(absl::string_view flag) const {
  return Get<std::string>(*this, flag);
}

std::optional<absl::Duration> Invocation::Duration(absl::string_view flag) const {
  return Get<absl::Duration>(*this, flag);
}

std::optional<StepRange> Invocation::Steps(absl::string_view flag) const {
  return Get<StepRange>(*this, flag);
}

absl::StatusOr<Invocation> ParseArgs(const CommandTable& table,
                                     absl::Span<const std::string> args) {
  return Parser(table).Parse(args);
}

std::optional<absl::Duration> ParseDurationFlag(absl::string_view text) {
  absl::Duration d;
  double seconds = 0;
  if (absl::SimpleAtod(text, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &d)) {
    return std::nullopt;
  }
  if (d <= absl::ZeroDuration()) return std::nullopt;
  return d;
}

std::optional<StepRange> ParseStepRange(absl::string_view text) {
  const size_t dash = text.find('-');
  if (dash == absl::string_view::npos) return std::nullopt;
  const absl::string_view first = text.substr(0, dash);
  const absl::string_view last = text.substr(dash + 1);
  StepRange range;
  // SimpleAtoi accepts a sign and surrounding spaces; steps are plain digits.
  auto digits = [](absl::string_view s) {
    return !s.empty() && s.find_first_not_of("0123456789") == absl::string_view::npos;
  };
  if (!digits(first) || !digits(last) || !absl::SimpleAtoi(first, &range.first) ||
      !absl::SimpleAtoi(last, &range.last) || range.first > range.last) {
    return std::nullopt;
  }
  return range;
}

}  // namespace psd::psdctl
