#include "common/job_spec.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/types/span.h"
#include "common/closest_name.h"
#include "common/file_util.h"
#include "common/idx_header.h"
#include "common/status_macros.h"
#include "common/utf8.h"
#include "yaml-cpp/depthguard.h"
#include "yaml-cpp/eventhandler.h"
#include "yaml-cpp/parser.h"
#include "yaml-cpp/yaml.h"

namespace psd {

int ModelSpec::RowDim() const {
  switch (type) {
    case ModelType::kFm:
      return 1 + embedding.dim;
    case ModelType::kDlrm:
      return embedding.dim;
    default:
      return 1;
  }
}

std::vector<int> ModelSpec::LayerSizes() const {
  if (sparse()) {
    if (type != ModelType::kDlrm) return {input_dim, 1};
    std::vector<int> sizes = {input_dim + sparse_fields * embedding.dim};
    sizes.insert(sizes.end(), hidden.begin(), hidden.end());
    sizes.push_back(1);
    return sizes;
  }
  std::vector<int> sizes = {input_dim};
  if (type == ModelType::kMlp) sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(num_classes);
  return sizes;
}

namespace {

// ---------------------------------------------------------------------------------------------
// Enum spellings in the YAML file.

template <typename E>
struct EnumName {
  E value;
  absl::string_view name;
};

constexpr EnumName<ModelType> kModelTypes[] = {{ModelType::kMlp, "mlp"},
                                               {ModelType::kLogreg, "logreg"},
                                               {ModelType::kFm, "fm"},
                                               {ModelType::kDlrm, "dlrm"}};
constexpr EnumName<Pooling> kPoolings[] = {{Pooling::kSum, "sum"}, {Pooling::kMean, "mean"}};
constexpr EnumName<TableOptimizerType> kTableOptimizers[] = {
    {TableOptimizerType::kSgd, "sgd"},
    {TableOptimizerType::kAdagrad, "adagrad"},
    {TableOptimizerType::kLazyAdam, "lazy_adam"},
    {TableOptimizerType::kFtrl, "ftrl"}};
constexpr EnumName<EvictionPolicyType> kEvictions[] = {{EvictionPolicyType::kNone, "none"},
                                                       {EvictionPolicyType::kLfu, "lfu"},
                                                       {EvictionPolicyType::kTtl, "ttl"}};
constexpr EnumName<BadRowsPolicy> kBadRows[] = {{BadRowsPolicy::kError, "error"},
                                                {BadRowsPolicy::kSkip, "skip"}};
constexpr EnumName<ShardRule> kShardRules[] = {{ShardRule::kLines, "lines"},
                                               {ShardRule::kFiles, "files"}};
constexpr EnumName<Activation> kActivations[] = {
    {Activation::kRelu, "relu"}, {Activation::kTanh, "tanh"}, {Activation::kSigmoid, "sigmoid"}};
constexpr EnumName<Consistency> kConsistencies[] = {
    {Consistency::kSync, "sync"}, {Consistency::kAsync, "async"}, {Consistency::kSsp, "ssp"}};
constexpr EnumName<WorkerFailurePolicy> kFailurePolicies[] = {
    {WorkerFailurePolicy::kContinue, "continue"}, {WorkerFailurePolicy::kFail, "fail"}};
constexpr EnumName<NonfinitePolicy> kNonfinitePolicies[] = {{NonfinitePolicy::kReject, "reject"},
                                                            {NonfinitePolicy::kSkip, "skip"},
                                                            {NonfinitePolicy::kFail, "fail"}};
constexpr EnumName<CheckpointFailurePolicy> kCheckpointFailurePolicies[] = {
    {CheckpointFailurePolicy::kContinue, "continue"}, {CheckpointFailurePolicy::kFail, "fail"}};
constexpr EnumName<OptimizerType> kOptimizers[] = {
    {OptimizerType::kSgd, "sgd"},           {OptimizerType::kMomentum, "momentum"},
    {OptimizerType::kNesterov, "nesterov"}, {OptimizerType::kAdagrad, "adagrad"},
    {OptimizerType::kAdam, "adam"},         {OptimizerType::kAdamW, "adamw"}};
constexpr EnumName<LrScheduleType> kSchedules[] = {{LrScheduleType::kConstant, "constant"},
                                                   {LrScheduleType::kStep, "step"},
                                                   {LrScheduleType::kCosine, "cosine"}};
constexpr EnumName<DeviceKind> kDevices[] = {
    {DeviceKind::kAuto, "auto"}, {DeviceKind::kCpu, "cpu"}, {DeviceKind::kCuda, "cuda"}};
constexpr EnumName<WireDType> kWireDTypes[] = {{WireDType::kF32, "fp32"},
                                               {WireDType::kF16, "fp16"}};

template <typename E>
absl::string_view NameOf(absl::Span<const EnumName<E>> names, E value) {
  for (const EnumName<E>& n : names) {
    if (n.value == value) return n.name;
  }
  return "unknown";
}

// ---------------------------------------------------------------------------------------------
// Reading context and messages.

struct Context {
  std::string source;
  // Field path -> 1-based line of its value, for every field present in the file.
  absl::flat_hash_map<std::string, int> lines;
};

// One YAML value being read into a field.
struct Value {
  YAML::Node node;
  std::string path;  // "training.batch_size"; empty for the document itself
  int line;          // 1-based
  Context* ctx;
};

// Errors are one line (job_spec.h), but a path is what the user wrote: a YAML key may hold line
// breaks and run to megabytes. Control characters are escaped ("\n") and a path is cut short.
std::string OneLine(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      out += absl::StrFormat("\\x%02x", u);
    } else {
      out += c;
    }
  }
  return out;
}

constexpr size_t kMaxPathInMessage = 120;

absl::Status ErrorAt(const Context& ctx, int line, absl::string_view path,
                     absl::string_view reason) {
  std::string where = path.empty() ? "job spec" : std::string(path);
  if (where.size() > kMaxPathInMessage) {
    size_t cut = kMaxPathInMessage;
    while (cut > 0 && (static_cast<unsigned char>(where[cut]) & 0xc0) == 0x80) --cut;  // UTF-8
    where = absl::StrCat(where.substr(0, cut), "... (", where.size(), " bytes)");
  }
  return absl::InvalidArgumentError(
      OneLine(absl::StrCat(ctx.source, ":", line, ": ", where, ": ", reason)));
}

absl::Status Error(const Value& v, absl::string_view reason) {
  return ErrorAt(*v.ctx, v.line, v.path, reason);
}

int LineOf(const YAML::Node& node, int fallback) {
  return node.Mark().line >= 0 ? node.Mark().line + 1 : fallback;
}

// The line a field's errors point at: a scalar's own line, else the line of its key.
int FieldLine(const YAML::Node& value, int key_line) {
  return value.IsScalar() ? LineOf(value, key_line) : key_line;
}

int LineOf(const Context& ctx, const std::string& path) {
  auto it = ctx.lines.find(path);
  return it == ctx.lines.end() ? 1 : it->second;
}

bool Has(const Context& ctx, const std::string& path) { return ctx.lines.contains(path); }

std::string JoinPath(absl::string_view parent, absl::string_view name) {
  return parent.empty() ? std::string(name) : absl::StrCat(parent, ".", name);
}

// Quoted scalars are YAML strings; plain ones may be numbers or booleans.
bool IsPlainScalar(const YAML::Node& node) { return node.IsScalar() && node.Tag() == "?"; }

// How a value reads in a message: "a list", "a map", 12, "12" (a quoted string).
std::string Describe(const YAML::Node& node) {
  if (node.IsNull()) return "an empty value";
  if (node.IsSequence()) return "a list";
  if (node.IsMap()) return "a map";
  std::string text = absl::Utf8SafeCEscape(node.Scalar());
  if (text.size() > 40) text = absl::StrCat(text.substr(0, 37), "...");
  return IsPlainScalar(node) ? text : absl::StrCat("\"", text, "\"");
}

absl::Status TypeError(const Value& v, absl::string_view expected) {
  return Error(v, absl::StrCat("must be ", expected, ", got ", Describe(v.node)));
}

// ---------------------------------------------------------------------------------------------
// Scalar conversions. Each reports its own error against the value.

bool IsDecimalInteger(absl::string_view s) {
  if (!s.empty() && (s[0] == '-' || s[0] == '+')) s.remove_prefix(1);
  return !s.empty() && std::all_of(s.begin(), s.end(), absl::ascii_isdigit);
}

// YAML 1.2 core-schema decimal float: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
bool IsDecimalNumber(absl::string_view s) {
  size_t i = 0;
  auto digits = [&] {
    const size_t start = i;
    while (i < s.size() && absl::ascii_isdigit(s[i])) ++i;
    return i - start;
  };
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  size_t mantissa = digits();
  if (i < s.size() && s[i] == '.') {
    ++i;
    mantissa += digits();
  }
  if (mantissa == 0) return false;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
    if (digits() == 0) return false;
  }
  return i == s.size();
}

std::string RangeReason(int64_t lo, int64_t hi, int64_t type_max) {
  if (hi == type_max) return absl::StrCat("must be at least ", lo);
  return absl::StrCat("must be between ", lo, " and ", hi);
}

absl::StatusOr<int64_t> ReadInt(const Value& v, int64_t lo, int64_t hi, int64_t type_max) {
  if (!IsPlainScalar(v.node) || !IsDecimalInteger(v.node.Scalar())) {
    return TypeError(v, "an integer");
  }
  int64_t x = 0;
  const bool fits = absl::SimpleAtoi(v.node.Scalar(), &x);
  if (!fits || x < lo || x > hi) {
    const std::string reason =
        fits ? RangeReason(lo, hi, type_max) : absl::StrCat("must be between ", lo, " and ", hi);
    return Error(v, absl::StrCat(reason, ", got ", Describe(v.node)));
  }
  return x;
}

// A real interval such as (0, inf) or [0, 1).
struct Interval {
  double lo, hi;
  bool lo_open, hi_open;

  bool Contains(double x) const {
    return (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
  }
  std::string Reason() const {
    if (std::isinf(hi)) {
      return absl::StrCat(lo_open ? "must be greater than " : "must be at least ", lo);
    }
    return absl::StrCat("must be in ", lo_open ? "(" : "[", lo, ", ", hi, hi_open ? ")" : "]");
  }
};

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr Interval kPositive = {0, kInf, true, false};
constexpr Interval kNonNegative = {0, kInf, false, false};
constexpr Interval kFraction = {0, 1, false, true};     // [0, 1)
constexpr Interval kDecayFactor = {0, 1, true, false};  // (0, 1]

absl::StatusOr<double> ReadDouble(const Value& v, const Interval& range) {
  double x = 0;
  if (!IsPlainScalar(v.node) || !IsDecimalNumber(v.node.Scalar()) ||
      !absl::SimpleAtod(v.node.Scalar(), &x)) {
    return TypeError(v, "a number");
  }
  if (!std::isfinite(x)) return TypeError(v, "a finite number");
  if (!range.Contains(x)) return Error(v, absl::StrCat(range.Reason(), ", got ", Describe(v.node)));
  return x;
}

absl::StatusOr<bool> ReadBool(const Value& v) {
  if (IsPlainScalar(v.node)) {
    const std::string s = v.node.Scalar();
    if (s == "true" || s == "True" || s == "TRUE") return true;
    if (s == "false" || s == "False" || s == "FALSE") return false;
  }
  return TypeError(v, "true or false");
}

absl::StatusOr<std::string> ReadString(const Value& v) {
  if (!v.node.IsScalar()) return TypeError(v, "a string");
  return v.node.Scalar();
}

template <typename E>
absl::StatusOr<E> ReadEnum(const Value& v, absl::Span<const EnumName<E>> names) {
  std::vector<std::string> spelled;
  for (const EnumName<E>& n : names) spelled.emplace_back(n.name);
  const std::string allowed = absl::StrJoin(spelled, ", ");
  if (!v.node.IsScalar()) return TypeError(v, absl::StrCat("one of ", allowed));
  for (const EnumName<E>& n : names) {
    if (n.name == v.node.Scalar()) return n.value;
  }
  std::string reason = absl::StrCat("must be one of ", allowed, ", got ", Describe(v.node));
  if (auto hint = ClosestName(v.node.Scalar(), spelled)) {
    absl::StrAppend(&reason, "; did you mean '", *hint, "'?");
  }
  return Error(v, reason);
}

// A byte count: an integer or a size string such as 256KiB or 1MiB.
std::optional<int64_t> ParseByteSize(absl::string_view text) {
  static constexpr std::pair<absl::string_view, int64_t> kUnits[] = {
      {"GiB", int64_t{1} << 30}, {"MiB", int64_t{1} << 20}, {"KiB", int64_t{1} << 10}, {"B", 1}};
  int64_t unit = 1;
  for (const auto& [suffix, bytes] : kUnits) {
    if (absl::EndsWith(text, suffix)) {
      text.remove_suffix(suffix.size());
      text = absl::StripTrailingAsciiWhitespace(text);
      unit = bytes;
      break;
    }
  }
  int64_t n = 0;
  if (!IsDecimalInteger(text) || !absl::SimpleAtoi(text, &n)) return std::nullopt;
  if (n < 0) return n;
  return n > std::numeric_limits<int64_t>::max() / unit ? std::numeric_limits<int64_t>::max()
                                                        : n * unit;
}

std::string FormatBytes(int64_t bytes) {
  if (bytes >= (1 << 20) && bytes % (1 << 20) == 0) return absl::StrCat(bytes >> 20, "MiB");
  return absl::StrCat(bytes, " bytes");
}

// ---------------------------------------------------------------------------------------------
// Table-driven field readers: a section is a list of Field<S>, one per YAML key.

template <typename S>
struct Field {
  using Reader = std::function<absl::Status(const Value&, S*)>;
  Field(absl::string_view name, Reader read) : name(name), read(std::move(read)) {}

  absl::string_view name;
  Reader read;
  bool required = false;
  // Sections only: appends the paths of every field below `prefix`.
  std::function<void(const std::string& prefix, std::vector<std::string>*)> list_paths;
};

template <typename S>
Field<S> Required(Field<S> field) {
  field.required = true;
  return field;
}

template <typename S, typename T>
Field<S> IntField(absl::string_view name, T S::*member, int64_t lo,
                  int64_t hi = std::numeric_limits<T>::max()) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            PSD_ASSIGN_OR_RETURN(int64_t x, ReadInt(v, lo, hi, std::numeric_limits<T>::max()));
            s->*member = static_cast<T>(x);
            return absl::OkStatus();
          }};
}

template <typename S>
Field<S> Uint64Field(absl::string_view name, uint64_t S::*member) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            const std::string text = v.node.IsScalar() ? v.node.Scalar() : "";
            if (!IsPlainScalar(v.node) || !IsDecimalInteger(text)) {
              return TypeError(v, "an integer");
            }
            uint64_t x = 0;
            if (text[0] == '-' || !absl::SimpleAtoi(text, &x)) {
              return Error(v, absl::StrCat("must be between 0 and ",
                                           std::numeric_limits<uint64_t>::max(), ", got ", text));
            }
            s->*member = x;
            return absl::OkStatus();
          }};
}

template <typename S>
Field<S> DoubleField(absl::string_view name, double S::*member, Interval range) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            PSD_ASSIGN_OR_RETURN(s->*member, ReadDouble(v, range));
            return absl::OkStatus();
          }};
}

template <typename S>
Field<S> BoolField(absl::string_view name, bool S::*member) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            PSD_ASSIGN_OR_RETURN(s->*member, ReadBool(v));
            return absl::OkStatus();
          }};
}

template <typename S, typename E, size_t N>
Field<S> EnumField(absl::string_view name, E S::*member, const EnumName<E> (&names)[N]) {
  return {name, [=, &names](const Value& v, S* s) -> absl::Status {
            PSD_ASSIGN_OR_RETURN(s->*member, ReadEnum<E>(v, names));
            return absl::OkStatus();
          }};
}

// `check` returns why a string is not acceptable, or nullopt.
using StringCheck = std::function<std::optional<std::string>(const std::string&)>;

template <typename S>
Field<S> StringField(absl::string_view name, std::string S::*member, StringCheck check = {}) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            PSD_ASSIGN_OR_RETURN(std::string text, ReadString(v));
            if (check) {
              if (std::optional<std::string> reason = check(text)) return Error(v, *reason);
            }
            s->*member = std::move(text);
            return absl::OkStatus();
          }};
}

template <typename S>
Field<S> ByteSizeField(absl::string_view name, int64_t S::*member, int64_t lo, int64_t hi,
                       int64_t multiple) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            const std::optional<int64_t> bytes =
                v.node.IsScalar() ? ParseByteSize(v.node.Scalar()) : std::nullopt;
            if (!bytes) return TypeError(v, "a byte count or a size like 256KiB or 1MiB");
            if (*bytes < lo || *bytes > hi) {
              return Error(v, absl::StrCat("must be between ", FormatBytes(lo), " and ",
                                           FormatBytes(hi), ", got ", Describe(v.node)));
            }
            if (*bytes % multiple != 0) {
              return Error(v, absl::StrCat("must be a multiple of ", multiple, " bytes, got ",
                                           Describe(v.node)));
            }
            s->*member = *bytes;
            return absl::OkStatus();
          }};
}

template <typename S>
Field<S> IntListField(absl::string_view name, std::vector<int> S::*member, int lo, int hi,
                      size_t max_entries, absl::string_view entries) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            if (!v.node.IsSequence()) return TypeError(v, "a list of integers");
            if (v.node.size() > max_entries) {
              return Error(
                  v, absl::StrCat("at most ", max_entries, " ", entries, ", got ", v.node.size()));
            }
            std::vector<int> values;
            for (size_t i = 0; i < v.node.size(); ++i) {
              const YAML::Node item = v.node[i];
              const Value element{item, absl::StrCat(v.path, "[", i, "]"), FieldLine(item, v.line),
                                  v.ctx};
              PSD_ASSIGN_OR_RETURN(int64_t x,
                                   ReadInt(element, lo, hi, std::numeric_limits<int64_t>::max()));
              values.push_back(static_cast<int>(x));
            }
            s->*member = std::move(values);
            return absl::OkStatus();
          }};
}

template <typename S>
Field<S> StringListField(absl::string_view name, std::vector<std::string> S::*member,
                         size_t max_entries, StringCheck check) {
  return {name, [=](const Value& v, S* s) -> absl::Status {
            if (!v.node.IsSequence()) return TypeError(v, "a list of strings");
            if (v.node.size() > max_entries) {
              return Error(v,
                           absl::StrCat("at most ", max_entries, " entries, got ", v.node.size()));
            }
            std::vector<std::string> values;
            for (size_t i = 0; i < v.node.size(); ++i) {
              const YAML::Node item = v.node[i];
              const Value element{item, absl::StrCat(v.path, "[", i, "]"), FieldLine(item, v.line),
                                  v.ctx};
              PSD_ASSIGN_OR_RETURN(std::string text, ReadString(element));
              if (std::optional<std::string> reason = check(text)) return Error(element, *reason);
              values.push_back(std::move(text));
            }
            s->*member = std::move(values);
            return absl::OkStatus();
          }};
}

template <typename S>
const Field<S>* FindField(const std::vector<Field<S>>& fields, absl::string_view name) {
  for (const Field<S>& f : fields) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

const std::vector<std::string>& AllFieldPaths();

// "unknown field", with a hint: a close name in the same section, or the same name elsewhere.
std::string UnknownFieldReason(absl::string_view section, absl::string_view name,
                               const std::vector<std::string>& known) {
  if (auto close = ClosestName(name, known)) {
    return absl::StrCat("unknown field; did you mean '", *close, "'?");
  }
  std::vector<std::string> elsewhere;
  for (const std::string& path : AllFieldPaths()) {
    const size_t dot = path.rfind('.');
    // A view into `path` itself: `path.substr()` would be a temporary, gone after this line.
    const absl::string_view leaf =
        absl::string_view(path).substr(dot == std::string::npos ? 0 : dot + 1);
    if (leaf == name && path != JoinPath(section, name)) elsewhere.push_back(path);
  }
  if (elsewhere.size() == 1) {
    return absl::StrCat("unknown field; did you mean '", elsewhere[0], "'?");
  }
  if (elsewhere.size() > 1 && elsewhere.size() <= 3) {
    return absl::StrCat("unknown field; did you mean '", absl::StrJoin(elsewhere, "' or '"), "'?");
  }
  return absl::StrCat("unknown field; expected one of ", absl::StrJoin(known, ", "));
}

// Reads a map (or an empty value, meaning all defaults) into `out` through its field table.
template <typename S>
absl::Status ReadSection(const Value& v, const std::vector<Field<S>>& fields, S* out) {
  if (!v.node.IsMap() && !v.node.IsNull()) return TypeError(v, "a map");
  absl::flat_hash_map<std::string, int> seen;  // field name -> line of its key
  if (v.node.IsMap()) {
    for (const auto& entry : v.node) {
      const YAML::Node& key = entry.first;
      const int key_line = LineOf(key, v.line);
      if (!key.IsScalar()) {
        return ErrorAt(*v.ctx, key_line, v.path,
                       absl::StrCat("field names must be strings, got ", Describe(key)));
      }
      const std::string& name = key.Scalar();
      const std::string path = JoinPath(v.path, name);
      const auto [first, inserted] = seen.emplace(name, key_line);
      if (!inserted) {
        return ErrorAt(*v.ctx, key_line, path,
                       absl::StrCat("duplicate field (first set on line ", first->second, ")"));
      }
      const Field<S>* field = FindField(fields, name);
      if (field == nullptr) {
        std::vector<std::string> known;
        for (const Field<S>& f : fields) known.emplace_back(f.name);
        return ErrorAt(*v.ctx, key_line, path, UnknownFieldReason(v.path, name, known));
      }
      const int line = FieldLine(entry.second, key_line);
      v.ctx->lines[path] = line;
      PSD_RETURN_IF_ERROR(field->read(Value{entry.second, path, line, v.ctx}, out));
    }
  }
  for (const Field<S>& f : fields) {
    if (f.required && !seen.contains(f.name)) {
      return ErrorAt(*v.ctx, v.line, JoinPath(v.path, f.name), "required field is missing");
    }
  }
  return absl::OkStatus();
}

template <typename S, typename T>
Field<S> SectionField(absl::string_view name, T S::*member,
                      const std::vector<Field<T>>& (*fields)()) {
  Field<S> field{name,
                 [=](const Value& v, S* s) { return ReadSection(v, fields(), &(s->*member)); }};
  field.list_paths = [fields](const std::string& prefix, std::vector<std::string>* out) {
    for (const Field<T>& f : fields()) {
      const std::string path = JoinPath(prefix, f.name);
      out->push_back(path);
      if (f.list_paths) f.list_paths(path, out);
    }
  };
  return field;
}

// ---------------------------------------------------------------------------------------------
// The field tables.

constexpr int kMaxWidth = 65536;
constexpr int kMaxCtrFields = 256;  // the Criteo key rule's field byte (worker/ctr_batch.h)

std::optional<std::string> CheckJobName(const std::string& name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
        return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
      });
  if (ok) return std::nullopt;
  return absl::StrCat("must match [A-Za-z0-9._-]{1,64}, got \"", absl::Utf8SafeCEscape(name), "\"");
}

std::optional<std::string> CheckPathLength(const std::string& path) {
  if (path.size() <= kMaxPathBytes) return std::nullopt;
  return absl::StrCat("at most ", kMaxPathBytes, " bytes, got ", path.size());
}

std::optional<std::string> CheckPath(const std::string& path) {
  if (path.empty()) return "must not be empty";
  return CheckPathLength(path);
}

std::optional<std::string> CheckDataFormat(const std::string& format) {
  if (format == "idx" || format == "criteo" || format == "libsvm") return std::nullopt;
  return absl::StrCat("must be one of idx, criteo, libsvm, got \"", absl::Utf8SafeCEscape(format),
                      "\"");
}

const std::vector<Field<TableOptimizerSpec>>& TableOptimizerFields() {
  static const auto* fields = new std::vector<Field<TableOptimizerSpec>>{
      EnumField("type", &TableOptimizerSpec::type, kTableOptimizers),
      DoubleField("learning_rate", &TableOptimizerSpec::learning_rate, kPositive),
      DoubleField("epsilon", &TableOptimizerSpec::epsilon, kPositive),
      DoubleField("initial_accumulator", &TableOptimizerSpec::initial_accumulator, kNonNegative),
      DoubleField("beta1", &TableOptimizerSpec::beta1, kFraction),
      DoubleField("beta2", &TableOptimizerSpec::beta2, kFraction),
      DoubleField("ftrl_beta", &TableOptimizerSpec::ftrl_beta, kNonNegative),
      DoubleField("l1", &TableOptimizerSpec::l1, kNonNegative),
      DoubleField("l2", &TableOptimizerSpec::l2, kNonNegative),
  };
  return *fields;
}

const std::vector<Field<EmbeddingSpec>>& EmbeddingFields() {
  static const auto* fields = new std::vector<Field<EmbeddingSpec>>{
      IntField("dim", &EmbeddingSpec::dim, 1, kMaxEmbeddingDim),
      EnumField("pooling", &EmbeddingSpec::pooling, kPoolings),
      DoubleField("init_scale", &EmbeddingSpec::init_scale, kNonNegative),
      SectionField("optimizer", &EmbeddingSpec::optimizer, TableOptimizerFields),
      ByteSizeField("memory_budget", &EmbeddingSpec::memory_budget_bytes, 0,
                    std::numeric_limits<int64_t>::max(), 1),
      EnumField("eviction", &EmbeddingSpec::eviction, kEvictions),
      IntField("ttl_steps", &EmbeddingSpec::ttl_steps, 0),
      IntField("admit_min_count", &EmbeddingSpec::admit_min_count, 0, 1 << 30),
  };
  return *fields;
}

const std::vector<Field<ModelSpec>>& ModelFields() {
  static const auto* fields = new std::vector<Field<ModelSpec>>{
      EnumField("type", &ModelSpec::type, kModelTypes),
      IntField("input_dim", &ModelSpec::input_dim, 1, 1 << 20),
      IntListField("hidden", &ModelSpec::hidden, 1, kMaxWidth, kMaxHiddenLayers, "layers"),
      IntField("num_classes", &ModelSpec::num_classes, 2, kMaxWidth),
      EnumField("activation", &ModelSpec::activation, kActivations),
      SectionField("embedding", &ModelSpec::embedding, EmbeddingFields),
  };
  return *fields;
}

const std::vector<Field<DataSpec>>& DataFields() {
  static const auto* fields = new std::vector<Field<DataSpec>>{
      StringField("format", &DataSpec::format, CheckDataFormat),
      StringField("train_images", &DataSpec::train_images, CheckPath),
      StringField("train_labels", &DataSpec::train_labels, CheckPath),
      StringField("test_images", &DataSpec::test_images, CheckPath),
      StringField("test_labels", &DataSpec::test_labels, CheckPath),
      BoolField("normalize", &DataSpec::normalize),
      StringListField("train_files", &DataSpec::train_files, kMaxDataFiles, CheckPath),
      StringListField("test_files", &DataSpec::test_files, kMaxDataFiles, CheckPath),
      IntField("dense_features", &DataSpec::dense_features, 0, 4096),
      IntField("categorical_fields", &DataSpec::categorical_fields, 1, kMaxCtrFields),
      EnumField("bad_rows", &DataSpec::bad_rows, kBadRows),
      EnumField("shard", &DataSpec::shard, kShardRules),
  };
  return *fields;
}

const std::vector<Field<OptimizerSpec>>& OptimizerFields() {
  static const auto* fields = new std::vector<Field<OptimizerSpec>>{
      EnumField("type", &OptimizerSpec::type, kOptimizers),
      DoubleField("learning_rate", &OptimizerSpec::learning_rate, kPositive),
      DoubleField("momentum", &OptimizerSpec::momentum, kFraction),
      DoubleField("weight_decay", &OptimizerSpec::weight_decay, kNonNegative),
      DoubleField("beta1", &OptimizerSpec::beta1, kFraction),
      DoubleField("beta2", &OptimizerSpec::beta2, kFraction),
      DoubleField("epsilon", &OptimizerSpec::epsilon, kPositive),
      DoubleField("initial_accumulator", &OptimizerSpec::initial_accumulator, kNonNegative),
  };
  return *fields;
}

const std::vector<Field<LrScheduleSpec>>& LrScheduleFields() {
  static const auto* fields = new std::vector<Field<LrScheduleSpec>>{
      EnumField("type", &LrScheduleSpec::type, kSchedules),
      IntField("warmup_steps", &LrScheduleSpec::warmup_steps, 0),
      IntField("step_size", &LrScheduleSpec::step_size, 1),
      DoubleField("gamma", &LrScheduleSpec::gamma, kDecayFactor),
      DoubleField("min_lr", &LrScheduleSpec::min_lr, kNonNegative),
  };
  return *fields;
}

const std::vector<Field<TrainingSpec>>& TrainingFields() {
  static const auto* fields = new std::vector<Field<TrainingSpec>>{
      IntField("epochs", &TrainingSpec::epochs, 1, 100000),
      IntField("max_steps", &TrainingSpec::max_steps, 0),
      IntField("batch_size", &TrainingSpec::batch_size, 1, 1 << 20),
      EnumField("consistency", &TrainingSpec::consistency, kConsistencies),
      IntField("staleness", &TrainingSpec::staleness, 0, 1000),
      EnumField("on_worker_failure", &TrainingSpec::on_worker_failure, kFailurePolicies),
      BoolField("staleness_aware_lr", &TrainingSpec::staleness_aware_lr),
      EnumField("nonfinite_gradients", &TrainingSpec::nonfinite_gradients, kNonfinitePolicies),
      SectionField("optimizer", &TrainingSpec::optimizer, OptimizerFields),
      SectionField("lr_schedule", &TrainingSpec::lr_schedule, LrScheduleFields),
      IntField("eval_every", &TrainingSpec::eval_every, 0),
      IntField("log_every", &TrainingSpec::log_every, 1),
  };
  return *fields;
}

const std::vector<Field<ClusterSpec>>& ClusterFields() {
  static const auto* fields = new std::vector<Field<ClusterSpec>>{
      IntField("servers", &ClusterSpec::servers, 1, kMaxServers),
      IntField("workers", &ClusterSpec::workers, 1, 4096),
      EnumField("device", &ClusterSpec::device, kDevices),
      IntField("devices_per_worker", &ClusterSpec::devices_per_worker, 1, kMaxDevicesPerWorker),
      ByteSizeField("chunk_bytes", &ClusterSpec::chunk_bytes, 4, int64_t{64} << 20, 4),
      EnumField("wire_dtype", &ClusterSpec::wire_dtype, kWireDTypes),
      BoolField("wire_fp16_params", &ClusterSpec::wire_fp16_params),
      BoolField("elastic", &ClusterSpec::elastic),
  };
  return *fields;
}

const std::vector<Field<CheckpointSpec>>& CheckpointFields() {
  static const auto* fields = new std::vector<Field<CheckpointSpec>>{
      StringField("dir", &CheckpointSpec::dir, CheckPathLength),
      IntField("every_steps", &CheckpointSpec::every_steps, 0),
      IntField("keep", &CheckpointSpec::keep, 1),
      IntField("full_every", &CheckpointSpec::full_every, 1, 1 << 20),
      EnumField("on_failure", &CheckpointSpec::on_failure, kCheckpointFailurePolicies),
  };
  return *fields;
}

const std::vector<Field<JobSpec>>& JobFields() {
  static const auto* fields = new std::vector<Field<JobSpec>>{
      Required(StringField("name", &JobSpec::name, CheckJobName)),
      Uint64Field("seed", &JobSpec::seed),
      SectionField("model", &JobSpec::model, ModelFields),
      Required(SectionField("data", &JobSpec::data, DataFields)),
      SectionField("training", &JobSpec::training, TrainingFields),
      SectionField("cluster", &JobSpec::cluster, ClusterFields),
      SectionField("checkpoint", &JobSpec::checkpoint, CheckpointFields),
  };
  return *fields;
}

const std::vector<std::string>& AllFieldPaths() {
  static const auto* paths = [] {
    auto* out = new std::vector<std::string>;
    for (const Field<JobSpec>& f : JobFields()) {
      out->emplace_back(f.name);
      if (f.list_paths) f.list_paths(std::string(f.name), out);
    }
    return out;
  }();
  return *paths;
}

// ---------------------------------------------------------------------------------------------
// Checks that involve more than one field.

// The first of `paths` the file sets, or nullptr.
const char* FirstSet(const Context& ctx, std::initializer_list<const char*> paths) {
  for (const char* path : paths) {
    if (Has(ctx, path)) return path;
  }
  return nullptr;
}

absl::Status NotAllowed(const Context& ctx, const char* path, absl::string_view why) {
  return ErrorAt(ctx, LineOf(ctx, path), path, absl::StrCat("not allowed ", why));
}

absl::Status CheckImageModel(const Context& ctx, JobSpec* spec) {
  ModelSpec* model = &spec->model;
  const DataSpec& data = spec->data;
  if (model->type == ModelType::kFm || model->type == ModelType::kDlrm) {
    return ErrorAt(ctx, LineOf(ctx, "model.type"), "model.type",
                   absl::StrCat(ModelTypeName(model->type),
                                " needs sparse features: data.format criteo or libsvm, got idx"));
  }
  if (const char* path = FirstSet(
          ctx, {"data.train_files", "data.test_files", "data.dense_features",
                "data.categorical_fields", "data.bad_rows", "data.shard", "model.embedding"})) {
    return NotAllowed(ctx, path, "with data.format idx (it is for criteo and libsvm data)");
  }
  for (const auto& [path, value] :
       {std::pair<const char*, const std::string*>{"data.train_images", &data.train_images},
        {"data.train_labels", &data.train_labels},
        {"data.test_images", &data.test_images},
        {"data.test_labels", &data.test_labels}}) {
    if (!Has(ctx, path)) {
      return ErrorAt(ctx, LineOf(ctx, "data"), path, "required field is missing");
    }
  }
  if (model->type == ModelType::kLogreg) {
    if (Has(ctx, "model.hidden")) {
      return ErrorAt(ctx, LineOf(ctx, "model.hidden"), "model.hidden",
                     "not allowed with model type logreg (it has no hidden layers)");
    }
    model->hidden.clear();
  } else if (model->hidden.empty()) {
    return ErrorAt(ctx, LineOf(ctx, "model.hidden"), "model.hidden",
                   "must not be empty for model type mlp");
  }
  return absl::OkStatus();
}

// logreg, fm and dlrm on criteo or libsvm rows: the layer sizes follow from the data.
absl::Status CheckSparseModel(const Context& ctx, JobSpec* spec) {
  ModelSpec* model = &spec->model;
  const DataSpec& data = spec->data;
  const std::string on = absl::StrCat("with data.format ", data.format);
  if (!Has(ctx, "model.type")) {
    return ErrorAt(ctx, LineOf(ctx, Has(ctx, "model") ? "model" : "data.format"), "model.type",
                   absl::StrCat("required field is missing ", on, " (logreg, fm or dlrm)"));
  }
  if (model->type == ModelType::kMlp) {
    return ErrorAt(
        ctx, LineOf(ctx, "model.type"), "model.type",
        absl::StrCat("mlp is an image model (data.format idx); ", on, " use logreg, fm or dlrm"));
  }
  if (const char* path = FirstSet(
          ctx, {"data.train_images", "data.train_labels", "data.test_images", "data.test_labels",
                "data.normalize", "model.input_dim", "model.num_classes"})) {
    return NotAllowed(ctx, path,
                      absl::StrCat(on,
                                   " (the data's columns set the model's inputs, and the "
                                   "model predicts one click probability)"));
  }
  if (data.format == "libsvm") {
    if (const char* path = FirstSet(ctx, {"data.dense_features", "data.categorical_fields"})) {
      return NotAllowed(ctx, path, "with data.format libsvm (it has no columns: only idx:val)");
    }
  }
  if (data.train_files.empty()) {
    return ErrorAt(ctx, LineOf(ctx, Has(ctx, "data.train_files") ? "data.train_files" : "data"),
                   "data.train_files",
                   absl::StrCat(Has(ctx, "data.train_files") ? "must not be empty"
                                                             : "required field is missing",
                                " (", on, ")"));
  }
  const bool criteo = data.format == "criteo";
  model->input_dim = criteo ? data.dense_features : 0;
  model->sparse_fields = criteo ? data.categorical_fields : 1;
  model->num_classes = 2;
  const EmbeddingSpec& e = model->embedding;
  if (model->type == ModelType::kDlrm) {
    if (model->hidden.empty()) {
      return ErrorAt(ctx, LineOf(ctx, "model.hidden"), "model.hidden",
                     "must not be empty for model type dlrm (the top MLP)");
    }
  } else {
    const std::string type(ModelTypeName(model->type));
    if (Has(ctx, "model.hidden")) {
      return NotAllowed(ctx, "model.hidden",
                        absl::StrCat("with model type ", type, " (it has no hidden layers)"));
    }
    if (Has(ctx, "model.activation")) {
      return NotAllowed(ctx, "model.activation",
                        absl::StrCat("with model type ", type, " (it has no hidden layers)"));
    }
    model->hidden.clear();
    if (Has(ctx, "model.embedding.pooling")) {
      return NotAllowed(ctx, "model.embedding.pooling",
                        absl::StrCat("with model type ", type, " (only dlrm pools bags)"));
    }
    if (model->type == ModelType::kLogreg && Has(ctx, "model.embedding.dim")) {
      return NotAllowed(ctx, "model.embedding.dim",
                        "with model type logreg (its rows are one weight wide)");
    }
  }
  if (e.eviction == EvictionPolicyType::kTtl && e.ttl_steps < 1) {
    return ErrorAt(ctx,
                   LineOf(ctx, Has(ctx, "model.embedding.ttl_steps") ? "model.embedding.ttl_steps"
                                                                     : "model.embedding.eviction"),
                   "model.embedding.ttl_steps",
                   absl::StrCat("must be at least 1 with eviction ttl, got ", e.ttl_steps));
  }
  if (e.eviction != EvictionPolicyType::kTtl && Has(ctx, "model.embedding.ttl_steps")) {
    return NotAllowed(
        ctx, "model.embedding.ttl_steps",
        absl::StrCat("with eviction ", EvictionPolicyName(e.eviction), " (only with ttl)"));
  }
  const int64_t layer0 = static_cast<int64_t>(model->LayerSizes()[0]);
  if (model->type == ModelType::kDlrm && layer0 > (1 << 22)) {
    return ErrorAt(ctx, LineOf(ctx, "model.embedding.dim"), "model.embedding.dim",
                   absl::StrCat("gives the top MLP ", layer0,
                                " inputs (dense features + fields x dim), more than 4194304"));
  }
  return absl::OkStatus();
}

absl::Status CheckModel(const Context& ctx, JobSpec* spec) {
  return spec->data.ctr() ? CheckSparseModel(ctx, spec) : CheckImageModel(ctx, spec);
}

absl::Status CheckTraining(const Context& ctx, const TrainingSpec& training) {
  if (Has(ctx, "training.staleness") && training.consistency != Consistency::kSsp) {
    return ErrorAt(ctx, LineOf(ctx, "training.staleness"), "training.staleness",
                   absl::StrCat("only allowed with consistency ssp, got consistency ",
                                ConsistencyName(training.consistency)));
  }
  const double lr = training.optimizer.learning_rate;
  if (training.lr_schedule.min_lr > lr) {
    return ErrorAt(ctx, LineOf(ctx, "training.lr_schedule.min_lr"), "training.lr_schedule.min_lr",
                   absl::StrCat("must not exceed training.optimizer.learning_rate (", lr, "), got ",
                                training.lr_schedule.min_lr));
  }
  return absl::OkStatus();
}

// Every device of a worker gets at least one row of its batch.
absl::Status CheckCluster(const Context& ctx, const JobSpec& spec) {
  const int devices = spec.cluster.devices_per_worker;
  if (devices > spec.training.batch_size) {
    return ErrorAt(
        ctx, LineOf(ctx, "cluster.devices_per_worker"), "cluster.devices_per_worker",
        absl::StrCat("must not exceed training.batch_size (", spec.training.batch_size,
                     "): every device needs at least one row of the batch, got ", devices));
  }
  return absl::OkStatus();
}

absl::Status CheckCheckpoint(const Context& ctx, const CheckpointSpec& checkpoint) {
  if (checkpoint.every_steps > 0 && checkpoint.dir.empty()) {
    return ErrorAt(
        ctx, LineOf(ctx, "checkpoint.every_steps"), "checkpoint.every_steps",
        absl::StrCat("must be 0 when checkpoint.dir is not set, got ", checkpoint.every_steps));
  }
  return absl::OkStatus();
}

// A data file, open past its header; errors point at its field.
absl::StatusOr<IdxFile> OpenDataFile(const Context& ctx, const char* field, const std::string& path,
                                     const ParseOptions& options) {
  absl::StatusOr<IdxFile> file = IdxFile::Open(path, options.max_data_bytes);
  if (!file.ok()) return ErrorAt(ctx, LineOf(ctx, field), field, file.status().message());
  return file;
}

// An image file and its label file, against each other and the model.
absl::Status CheckDataPair(const Context& ctx, const char* images_field,
                           const std::string& images_path, const char* labels_field,
                           const std::string& labels_path, const ModelSpec& model,
                           const ParseOptions& options) {
  PSD_ASSIGN_OR_RETURN(IdxFile images, OpenDataFile(ctx, images_field, images_path, options));
  const IdxHeader& h = images.header();
  if (absl::Status s = CheckImagesHeader(h); !s.ok()) {
    return ErrorAt(ctx, LineOf(ctx, images_field), images_field, s.message());
  }
  const int64_t values = h.elements / h.dims[0];
  if (values != model.input_dim) {
    const bool set = Has(ctx, "model.input_dim");
    const std::vector<int64_t> image(h.dims.begin() + 1, h.dims.end());
    const std::string shape = image.size() > 1
                                  ? absl::StrCat(absl::StrJoin(image, " x "), " = ", values)
                                  : absl::StrCat(values);
    return ErrorAt(
        ctx, LineOf(ctx, set ? "model.input_dim" : images_field), "model.input_dim",
        absl::StrCat("is ", model.input_dim, set ? "" : " (the default)", ", but ", images_path,
                     " holds images of ", shape, " values (", images_field, ")"));
  }
  PSD_ASSIGN_OR_RETURN(IdxFile labels, OpenDataFile(ctx, labels_field, labels_path, options));
  auto labels_error = [&](absl::string_view reason) {
    return ErrorAt(ctx, LineOf(ctx, labels_field), labels_field, reason);
  };
  if (absl::Status s = CheckLabelsHeader(labels.header(), h); !s.ok()) {
    return labels_error(s.message());
  }
  if (labels.header().elements > kMaxCheckedLabels) return absl::OkStatus();
  absl::StatusOr<std::vector<uint8_t>> classes = labels.ReadData();
  if (!classes.ok()) return labels_error(classes.status().message());
  for (size_t i = 0; i < classes->size(); ++i) {
    if ((*classes)[i] >= model.num_classes) {
      return labels_error(absl::StrCat(labels_path, ": label ", (*classes)[i], " of example ", i,
                                       " is not a class of the model (model.num_classes is ",
                                       model.num_classes, ")"));
    }
  }
  return absl::OkStatus();
}

// Each CTR data file exists and is a regular file (the readers check rows as they stream).
absl::Status CheckCtrFiles(const Context& ctx, const char* field,
                           const std::vector<std::string>& files) {
  for (size_t i = 0; i < files.size(); ++i) {
    struct stat st;
    const std::string path = absl::StrCat(field, "[", i, "]");
    if (::stat(files[i].c_str(), &st) != 0) {
      return ErrorAt(ctx, LineOf(ctx, field), path,
                     absl::StrCat(files[i], ": ", std::strerror(errno)));
    }
    if (!S_ISREG(st.st_mode)) {
      return ErrorAt(ctx, LineOf(ctx, field), path, absl::StrCat(files[i], ": not a regular file"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDataFiles(const Context& ctx, const JobSpec& spec, const ParseOptions& options) {
  const DataSpec& data = spec.data;
  if (data.ctr()) {
    PSD_RETURN_IF_ERROR(CheckCtrFiles(ctx, "data.train_files", data.train_files));
    return CheckCtrFiles(ctx, "data.test_files", data.test_files);
  }
  PSD_RETURN_IF_ERROR(CheckDataPair(ctx, "data.train_images", data.train_images,
                                    "data.train_labels", data.train_labels, spec.model, options));
  return CheckDataPair(ctx, "data.test_images", data.test_images, "data.test_labels",
                       data.test_labels, spec.model, options);
}

// ---------------------------------------------------------------------------------------------
// The document.

// Byte order marks of encodings other than UTF-8 (UTF-32 first: its LE mark starts with
// UTF-16's).
constexpr std::pair<absl::string_view, absl::string_view> kForeignBoms[] = {
    {absl::string_view("\xff\xfe\0\0", 4), "UTF-32"},
    {absl::string_view("\0\0\xfe\xff", 4), "UTF-32"},
    {"\xff\xfe", "UTF-16"},
    {"\xfe\xff", "UTF-16"},
};

// The size limit, then the encoding: UTF-8 without NUL bytes. yaml-cpp would read UTF-16
// and pass bytes that are not UTF-8 through into strings that protobuf then refuses.
absl::Status CheckText(absl::string_view text, const Context& ctx, const ParseOptions& options) {
  if (static_cast<int64_t>(text.size()) > options.max_spec_bytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(ctx.source, ": ", text.size(), " bytes, more than the limit of ",
                     options.max_spec_bytes, " bytes for a job spec"));
  }
  for (const auto& [bom, encoding] : kForeignBoms) {
    if (absl::StartsWith(text, bom)) {
      return absl::InvalidArgumentError(absl::StrCat(ctx.source, ": the file is ", encoding,
                                                     " (byte order mark); save it as UTF-8"));
    }
  }
  const size_t nul = text.find('\0');
  const size_t bad = std::min(nul, FirstInvalidUtf8(text));
  if (bad == absl::string_view::npos) return absl::OkStatus();
  const size_t newline = text.rfind('\n', bad);
  const size_t line_start = newline == absl::string_view::npos ? 0 : newline + 1;
  const int line = 1 + static_cast<int>(std::count(text.begin(), text.begin() + line_start, '\n'));
  // Columns count characters: every byte but UTF-8 continuation bytes starts one.
  const int column =
      1 + static_cast<int>(std::count_if(text.begin() + line_start, text.begin() + bad, [](char c) {
        return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
      }));
  if (bad == nul) {
    return ErrorAt(ctx, line, "yaml",
                   absl::StrCat("a NUL byte at column ", column, " (byte offset ", bad,
                                "); is the file UTF-16? save it as UTF-8"));
  }
  return ErrorAt(ctx, line, "yaml",
                 absl::StrFormat("not valid UTF-8 at column %d (byte 0x%02x at byte offset %d); "
                                 "save the file as UTF-8",
                                 column, static_cast<unsigned char>(text[bad]), bad));
}

// Counts the YAML nodes the text would become, from the parser's events, and stops at the
// limit: yaml-cpp builds every node of a document before it returns any.
class NodeCounter : public YAML::EventHandler {
 public:
  // Thrown (and caught in CountNodes) when the count passes kMaxSpecNodes.
  struct TooMany {
    int line;
  };

  void OnDocumentStart(const YAML::Mark&) override {}
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { Count(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    Count(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    Count(mark);
  }
  void OnMapEnd() override {}

 private:
  void Count(const YAML::Mark& mark) {
    if (++nodes_ > kMaxSpecNodes) throw TooMany{mark.line >= 0 ? mark.line + 1 : 1};
  }
  int64_t nodes_ = 0;
};

// Refuses text of more than kMaxSpecNodes nodes; YAML errors surface as in LoadDocument.
absl::Status CountNodes(const std::string& yaml, const Context& ctx) {
  std::istringstream in(yaml);
  YAML::Parser parser(in);
  NodeCounter counter;
  try {
    while (parser.HandleNextDocument(counter)) {
    }
  } catch (const NodeCounter::TooMany& too_many) {
    return ErrorAt(ctx, too_many.line, "yaml",
                   absl::StrCat("more than ", kMaxSpecNodes,
                                " YAML nodes (values, lists and maps); a job spec has far fewer"));
  }
  return absl::OkStatus();
}

// Parses the YAML text into its single document, which must be a map.
absl::StatusOr<YAML::Node> LoadDocument(absl::string_view yaml, const Context& ctx) {
  std::vector<YAML::Node> docs;
  try {
    const std::string text(yaml);
    PSD_RETURN_IF_ERROR(CountNodes(text, ctx));
    docs = YAML::LoadAll(text);
  } catch (const YAML::DeepRecursion& e) {
    return ErrorAt(ctx, e.mark.line >= 0 ? e.mark.line + 1 : 1, "yaml",
                   "lists and maps are nested too deeply");
  } catch (const YAML::Exception& e) {
    return ErrorAt(ctx, e.mark.line >= 0 ? e.mark.line + 1 : 1, "yaml", e.msg);
  }
  if (docs.empty() || docs[0].IsNull()) {
    return ErrorAt(ctx, 1, "", "the document is empty; expected a map of fields");
  }
  if (docs.size() > 1) {
    return ErrorAt(ctx, LineOf(docs[1], 1), "",
                   absl::StrCat("expected one YAML document, got ", docs.size()));
  }
  if (!docs[0].IsMap()) {
    return ErrorAt(ctx, LineOf(docs[0], 1), "",
                   absl::StrCat("must be a map of fields, got ", Describe(docs[0])));
  }
  return docs[0];
}

absl::StatusOr<JobSpec> Parse(absl::string_view yaml, Context* ctx, const ParseOptions& options) {
  PSD_RETURN_IF_ERROR(CheckText(yaml, *ctx, options));
  PSD_ASSIGN_OR_RETURN(YAML::Node root, LoadDocument(yaml, *ctx));
  JobSpec spec;
  PSD_RETURN_IF_ERROR(ReadSection(Value{root, "", 1, ctx}, JobFields(), &spec));
  PSD_RETURN_IF_ERROR(CheckModel(*ctx, &spec));
  PSD_RETURN_IF_ERROR(CheckTraining(*ctx, spec.training));
  PSD_RETURN_IF_ERROR(CheckCluster(*ctx, spec));
  PSD_RETURN_IF_ERROR(CheckCheckpoint(*ctx, spec.checkpoint));
  if (options.check_files) PSD_RETURN_IF_ERROR(CheckDataFiles(*ctx, spec, options));
  return spec;
}

}  // namespace

absl::StatusOr<JobSpec> ParseJobSpec(absl::string_view yaml, absl::string_view source,
                                     const ParseOptions& options) {
  Context ctx{std::string(source), {}};
  try {
    return Parse(yaml, &ctx, options);
  } catch (const YAML::Exception& e) {
    return ErrorAt(ctx, e.mark.line >= 0 ? e.mark.line + 1 : 1, "yaml", e.msg);
  } catch (const std::exception& e) {
    return ErrorAt(ctx, 1, "job spec", e.what());
  }
}

absl::StatusOr<JobSpec> LoadJobSpecFile(const std::string& path, const ParseOptions& options) {
  absl::StatusOr<std::string> text = ReadRegularFile(path, options.max_spec_bytes);
  if (!text.ok()) {
    return absl::Status(text.status().code(),
                        absl::StrCat("cannot load job spec: ", text.status().message()));
  }
  return ParseJobSpec(*text, path, options);
}

absl::string_view ConsistencyName(Consistency c) { return NameOf<Consistency>(kConsistencies, c); }

absl::string_view OptimizerName(OptimizerType t) { return NameOf<OptimizerType>(kOptimizers, t); }

absl::string_view DeviceKindName(DeviceKind d) { return NameOf<DeviceKind>(kDevices, d); }

absl::string_view ModelTypeName(ModelType t) { return NameOf<ModelType>(kModelTypes, t); }

absl::string_view TableOptimizerName(TableOptimizerType t) {
  return NameOf<TableOptimizerType>(kTableOptimizers, t);
}

absl::string_view EvictionPolicyName(EvictionPolicyType e) {
  return NameOf<EvictionPolicyType>(kEvictions, e);
}

absl::string_view NonfinitePolicyName(NonfinitePolicy p) {
  return NameOf<NonfinitePolicy>(kNonfinitePolicies, p);
}

}  // namespace psd
