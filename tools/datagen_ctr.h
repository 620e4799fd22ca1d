// `psd-datagen ctr`: click logs in the Criteo layout drawn from a planted logistic model whose
// every parameter is a hash of (seed, what it is), so that the data, and the Bayes-optimal
// test AUC and log loss printed with it, are a function of the spec alone. See docs/sparse.md,
// "The generator".
#ifndef PSD_TOOLS_DATAGEN_CTR_H_
#define PSD_TOOLS_DATAGEN_CTR_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace psd::datagen {

struct CtrSpec {
  std::string out_dir;
  int64_t train_rows = 100000;
  int64_t test_rows = 10000;
  int fields = 26;  // categorical features, at most 256
  int dense = 13;   // integer features
  // Distinct values per field, each in [1, 2^32]: one value for every field, or one per field.
  std::vector<uint64_t> cardinality = {1000000};
  double zipf = 1.1;     // the exponent s of P(rank k) ~ k^-s, > 0
  int interactions = 8;  // pairs of fields whose values interact, at most fields*(fields-1)/2
  uint64_t seed = 1;
  bool gzip = false;               // gzip (level 1) the files; names end in .gz
  double target_ctr = 0.25;        // the mean click probability the bias is fitted to, in (0, 1)
  double missing = 0.02;           // probability that a feature is empty, in [0, 1)
  double weight_scale = 0.25;      // sd of a field value's weight
  double interaction_scale = 0.4;  // scale of an interaction (the product of two factors)
  double dense_scale = 0.1;        // sd of an integer feature's weight on log(1 + x)
  int train_files = 1;             // the train rows split into this many files
  int threads = 0;  // rows drawn on this many threads (0: one per core); the same bytes on any
};

// Checks every field of `spec`; expands a single cardinality to one per field. Errors name the
// flag (--fields, --cardinality, ...) and the bad value.
absl::Status ValidateCtrSpec(CtrSpec* spec);

// The planted model: logit = bias + sum_j d_j log(1 + x_j) + sum_f w_f(v_f)
//                           + sum_{(f,g) in pairs} c * a_fg(v_f) b_fg(v_g),
// over a row's field values v_f as written (the 32-bit hash, or "missing") and its integer
// features x_j (empty: 0). Each weight is a hash of (seed, field, value): no table is held.
class PlantedModel {
 public:
  explicit PlantedModel(const CtrSpec& spec);  // spec validated

  // The logit of a row: `hashes` and `missing` (nonzero: the field is empty) per field,
  // `dense` the reader's features (log(1 + x), CriteoDense), dense_dim of them.
  double Logit(const uint32_t* hashes, const uint8_t* missing, const float* dense) const;
  static double Probability(double logit);

  double bias() const { return bias_; }
  void set_bias(double bias) { bias_ = bias; }
  const std::vector<std::pair<int, int>>& pairs() const { return pairs_; }

 private:
  double FieldWeight(int field, uint32_t hash, bool missing) const;
  double Factor(int pair, int side, uint32_t hash, bool missing) const;

  CtrSpec spec_;
  double bias_ = 0;
  std::vector<double> dense_weights_;
  std::vector<std::pair<int, int>> pairs_;  // sorted, first < second
};

struct CtrGroundTruth {
  double bias = 0;
  std::vector<std::pair<int, int>> pairs;
  std::vector<std::string> train_files;  // names inside out_dir
  std::string test_file;
  int64_t train_rows = 0, train_positives = 0;
  int64_t test_rows = 0, test_positives = 0;
  std::optional<double> bayes_auc;         // none when the test rows hold a single class
  std::optional<double> bayes_logloss;     // none when there are no test rows
  std::optional<double> constant_logloss;  // of predicting the test CTR for every row
  double seconds = 0;                      // time spent generating and writing
};

// Writes the train and test files and ground_truth.json (the spec and the truth) into
// spec.out_dir (created if missing); returns the truth. The test rows' true probabilities
// are held for the exact AUC (8 bytes + 4 per test row); nothing else grows with the rows.
absl::StatusOr<CtrGroundTruth> GenerateCtr(const CtrSpec& spec);

// ground_truth.json's text.
std::string GroundTruthJson(const CtrSpec& spec, const CtrGroundTruth& truth);

}  // namespace psd::datagen

#endif  // PSD_TOOLS_DATAGEN_CTR_H_
