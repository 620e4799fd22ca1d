// psd-datagen: writes data sets with a known ground truth. `psd-datagen ctr --out DIR ...`
// writes click logs in the Criteo layout from a planted logistic model and prints its
// Bayes-optimal test AUC and log loss (docs/sparse.md, "The generator").
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "common/closest_name.h"
#include "tools/datagen_ctr.h"

namespace {

using psd::datagen::CtrSpec;

constexpr char kUsage[] =
    "usage: psd-datagen <command> [flags]\n"
    "\n"
    "commands:\n"
    "  ctr   click logs in the Criteo layout (label, integer features, hex-hash categorical\n"
    "        features) from a planted logistic model; prints its Bayes-optimal test AUC and\n"
    "        log loss and writes them to DIR/ground_truth.json\n"
    "\n"
    "`psd-datagen <command> --help` lists a command's flags.\n";

struct Flag {
  std::string name;
  std::string help;
  std::function<absl::Status(const std::string&)> set;
  bool is_bool = false;
};

// A count such as 1000000 or 1e6: a non-negative integer.
absl::StatusOr<uint64_t> ParseCount(const std::string& flag, absl::string_view s) {
  uint64_t v;
  if (absl::SimpleAtoi(s, &v)) return v;
  double d;
  if (absl::SimpleAtod(s, &d) && d >= 0 && d <= 1.8e19 && std::floor(d) == d) {
    return static_cast<uint64_t>(d);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": not a non-negative integer: '", s, "'"));
}

template <typename T>
Flag CountFlag(const std::string& name, T* dst, const std::string& help) {
  return Flag{
      name, help, [name, dst](const std::string& v) -> absl::Status {
        absl::StatusOr<uint64_t> n = ParseCount(name, v);
        if (!n.ok()) return n.status();
        if (*n > static_cast<uint64_t>(std::numeric_limits<T>::max())) {
          return absl::InvalidArgumentError(absl::StrCat("--", name, ": ", v, " is too large"));
        }
        *dst = static_cast<T>(*n);
        return absl::OkStatus();
      }};
}

Flag RealFlag(const std::string& name, double* dst, const std::string& help) {
  return Flag{
      name, help, [name, dst](const std::string& v) -> absl::Status {
        if (!absl::SimpleAtod(v, dst) || !std::isfinite(*dst)) {
          return absl::InvalidArgumentError(absl::StrCat("--", name, ": not a number: '", v, "'"));
        }
        return absl::OkStatus();
      }};
}

std::vector<Flag> CtrFlags(CtrSpec* spec) {
  std::vector<Flag> flags;
  flags.push_back({"out", "DIR: where the files go (created if missing); required",
                   [spec](const std::string& v) {
                     spec->out_dir = v;
                     return absl::OkStatus();
                   }});
  flags.push_back(CountFlag("train_rows", &spec->train_rows, "N: train rows (100000)"));
  flags.push_back(CountFlag("test_rows", &spec->test_rows, "N: test rows (10000)"));
  flags.push_back(CountFlag("fields", &spec->fields, "N: categorical features, <= 256 (26)"));
  flags.push_back(CountFlag("dense", &spec->dense, "N: integer features (13)"));
  flags.push_back({"cardinality",
                   "N or N1,N2,...: distinct values per field, one for all or one per field, "
                   "each <= 2^32 (1000000)",
                   [spec](const std::string& v) -> absl::Status {
                     spec->cardinality.clear();
                     for (absl::string_view part : absl::StrSplit(v, ',')) {
                       absl::StatusOr<uint64_t> n = ParseCount("cardinality", part);
                       if (!n.ok()) return n.status();
                       spec->cardinality.push_back(*n);
                     }
                     return absl::OkStatus();
                   }});
  flags.push_back(RealFlag("zipf", &spec->zipf, "S: Zipf exponent of each field's values (1.1)"));
  flags.push_back(
      CountFlag("interactions", &spec->interactions, "N: interacting pairs of fields (8)"));
  flags.push_back(CountFlag("seed", &spec->seed, "N: the seed; the same seed, the same bytes (1)"));
  flags.push_back({"gzip", "gzip the files (level 1), named .txt.gz (off)",
                   [spec](const std::string& v) -> absl::Status {
                     if (v == "true" || v == "1" || v.empty()) {
                       spec->gzip = true;
                     } else if (v == "false" || v == "0") {
                       spec->gzip = false;
                     } else {
                       return absl::InvalidArgumentError(
                           absl::StrCat("--gzip: not true or false: '", v, "'"));
                     }
                     return absl::OkStatus();
                   },
                   true});
  flags.push_back(RealFlag("target_ctr", &spec->target_ctr,
                           "P: mean click probability the bias is fitted to (0.25)"));
  flags.push_back(RealFlag("missing", &spec->missing, "P: probability a feature is empty (0.02)"));
  flags.push_back(RealFlag("weight_scale", &spec->weight_scale,
                           "X: sd of a field value's weight in the logit (0.25)"));
  flags.push_back(RealFlag("interaction_scale", &spec->interaction_scale,
                           "X: scale of a pair's product of factors (0.4)"));
  flags.push_back(RealFlag("dense_scale", &spec->dense_scale,
                           "X: sd of an integer feature's weight on log(1+x) (0.1)"));
  flags.push_back(
      CountFlag("train_files", &spec->train_files, "N: split the train rows into N files (1)"));
  flags.push_back(CountFlag("threads", &spec->threads,
                            "N: draw rows on N threads; 0, one per core; same bytes (0)"));
  return flags;
}

std::string FlagsHelp(const std::vector<Flag>& flags) {
  std::string out = "usage: psd-datagen ctr --out DIR [flags]\n\nflags:\n";
  for (const Flag& f : flags)
    absl::StrAppend(&out, absl::StrFormat("  --%-18s %s\n", f.name, f.help));
  return out;
}

// Parses --name=value, --name value and (bool flags) --name.
absl::Status ParseFlags(const std::vector<std::string>& args, std::vector<Flag>& flags,
                        bool* help) {
  std::vector<std::string> names;
  for (const Flag& f : flags) names.push_back(f.name);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i];
    if (a == "--help" || a == "-h" || a == "help") {
      *help = true;
      return absl::OkStatus();
    }
    if (a.rfind("--", 0) != 0) {
      return absl::InvalidArgumentError(absl::StrCat("unexpected argument '", a, "'"));
    }
    a = a.substr(2);
    std::string value;
    bool has_value = false;
    if (const size_t eq = a.find('='); eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
      has_value = true;
    }
    Flag* flag = nullptr;
    for (Flag& f : flags) {
      if (f.name == a) flag = &f;
    }
    if (flag == nullptr) {
      std::string msg = absl::StrCat("unknown flag --", a);
      if (auto near = psd::ClosestName(a, names))
        absl::StrAppend(&msg, " (did you mean --", *near, "?)");
      return absl::InvalidArgumentError(msg);
    }
    if (!has_value && !flag->is_bool) {
      if (i + 1 >= args.size()) {
        return absl::InvalidArgumentError(absl::StrCat("--", a, " needs a value"));
      }
      value = args[++i];
    }
    if (absl::Status s = flag->set(value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

int RunCtr(const std::vector<std::string>& args) {
  CtrSpec spec;
  std::vector<Flag> flags = CtrFlags(&spec);
  bool help = false;
  absl::Status s = ParseFlags(args, flags, &help);
  if (help) {
    std::fputs(FlagsHelp(flags).c_str(), stdout);
    return 0;
  }
  if (s.ok()) s = psd::datagen::ValidateCtrSpec(&spec);
  if (!s.ok()) {
    std::fprintf(stderr, "psd-datagen ctr: %s\n\n%s", std::string(s.message()).c_str(),
                 FlagsHelp(flags).c_str());
    return 2;
  }
  absl::StatusOr<psd::datagen::CtrGroundTruth> t = psd::datagen::GenerateCtr(spec);
  if (!t.ok()) {
    std::fprintf(stderr, "psd-datagen ctr: %s\n", std::string(t.status().message()).c_str());
    return 1;
  }
  auto ctr = [](int64_t pos, int64_t rows) {
    return rows > 0 ? absl::StrFormat("%.4f", static_cast<double>(pos) / rows) : "n/a";
  };
  auto num = [](const std::optional<double>& v) {
    return v ? absl::StrFormat("%.6f", *v) : std::string("undefined");
  };
  const std::string dir = spec.out_dir;
  std::printf(
      "psd-datagen ctr: %lld train rows (ctr %s) in %d file(s) %s/%s, %lld test rows (ctr %s) in "
      "%s/%s\n",
      static_cast<long long>(t->train_rows), ctr(t->train_positives, t->train_rows).c_str(),
      spec.train_files, dir.c_str(), t->train_files.front().c_str(),
      static_cast<long long>(t->test_rows), ctr(t->test_positives, t->test_rows).c_str(),
      dir.c_str(), t->test_file.c_str());
  std::printf("planted model: %d fields, %d integer features, %zu interacting pairs, bias %.6f\n",
              spec.fields, spec.dense, t->pairs.size(), t->bias);
  std::printf("bayes-optimal test auc %s logloss %s (constant-ctr logloss %s)\n",
              num(t->bayes_auc).c_str(), num(t->bayes_logloss).c_str(),
              num(t->constant_logloss).c_str());
  std::printf("ground truth: %s/ground_truth.json\n", dir.c_str());
  const double rows = static_cast<double>(t->train_rows + t->test_rows);
  std::printf("time %.3f s, %.0f rows/s\n", t->seconds, t->seconds > 0 ? rows / t->seconds : 0.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "ctr") return RunCtr(args);
  if (command == "help" || command == "--help" || command == "-h") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  std::fprintf(stderr, "psd-datagen: unknown command '%s' (commands: ctr)\n\n%s", command.c_str(),
               kUsage);
  return 2;
}
