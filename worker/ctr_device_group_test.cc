// CtrDeviceGroup: N CPU devices (N = 1, 2, 3) against one CtrModel with the whole batch, for
// logreg, fm and dlrm: the same unique keys, dense and row gradients within 1e-5, the same
// loss and probabilities; uneven slices (10 rows over 3), devices with empty slices (2 rows
// over 3), several steps of changing sizes, and bad rows named by their slice.
#include "worker/ctr_device_group.h"

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/select.h"
#include "tests/testing.h"
#include "worker/ctr_model.h"

namespace psd {
namespace {

constexpr int kKeyGroups = 2;  // unique keys grouped by two servers, as a worker's are

// A random batch: criteo-like (one key per field from a small vocabulary, sometimes a second,
// value 1) or libsvm-like (0 to 6 keys from a tiny vocabulary, repeats too, values in [-2, 2]).
CtrBatch RandomBatch(std::mt19937_64& rng, int rows, int fields, int dense_dim, bool criteo) {
  std::uniform_real_distribution<float> unit(-1, 1);
  CtrBatch b;
  b.dense_dim = dense_dim;
  for (int r = 0; r < rows; ++r) {
    b.labels.push_back(static_cast<float>(rng() % 2));
    for (int j = 0; j < dense_dim; ++j) b.dense.push_back(unit(rng));
    if (criteo) {
      for (int f = 0; f < fields; ++f) {
        const int keys = rng() % 3 == 0 ? 2 : 1;
        for (int i = 0; i < keys; ++i) {
          b.keys.push_back(rng() % 4 == 0 ? CriteoMissingKey(f) : CriteoKey(f, rng() % 4));
          b.values.push_back(1.0f);
        }
      }
    } else {
      const int keys = static_cast<int>(rng() % 7);
      for (int i = 0; i < keys; ++i) {
        b.keys.push_back(rng() % 6);
        b.values.push_back(2 * unit(rng));
      }
    }
    b.row_offsets.push_back(static_cast<int64_t>(b.keys.size()));
  }
  return b;
}

// A key's row: a function of the key alone, as the servers' tables give it.
void FillRow(uint64_t key, absl::Span<float> row) {
  std::mt19937_64 rng(key * 0x9e3779b97f4a7c15ull + 1);
  std::uniform_real_distribution<float> unit(-0.5f, 0.5f);
  for (float& x : row) x = unit(rng);
}

template <typename M>
void FillRows(M& m) {
  const int rd = m.row_dim();
  const absl::Span<const uint64_t> keys = m.unique_keys();
  for (size_t u = 0; u < keys.size(); ++u) FillRow(keys[u], m.rows().subspan(u * rd, rd));
}

std::vector<std::vector<float>> RandomDense(std::mt19937_64& rng, CtrModel& m) {
  std::uniform_real_distribution<float> unit(-0.5f, 0.5f);
  std::vector<std::vector<float>> out;
  for (int t = 0; t < m.num_dense(); ++t) {
    std::vector<float> p(m.dense_param(t).size());
    for (float& x : p) x = unit(rng);
    out.push_back(std::move(p));
  }
  return out;
}

template <typename M>
void SetDense(M& m, const std::vector<std::vector<float>>& dense) {
  for (int t = 0; t < m.num_dense(); ++t) {
    std::copy(dense[t].begin(), dense[t].end(), m.dense_param(t).begin());
  }
}

void CheckClose(absl::Span<const float> got, absl::Span<const float> want,
                const std::string& what) {
  INFO(what);
  REQUIRE(got.size() == want.size());
  float worst = 0;
  size_t at = 0;
  for (size_t k = 0; k < got.size(); ++k) {
    const float d = std::fabs(got[k] - want[k]);
    if (d > worst) {
      worst = d;
      at = k;
    }
  }
  INFO("largest difference " << worst << " at " << at);
  CHECK(worst <= 1e-5f);
}

struct Setup {
  std::string name;
  CtrModelConfig config;
  bool criteo = false;
};

std::vector<Setup> Setups() {
  std::vector<Setup> s;
  {
    Setup x{"logreg", {}, false};
    x.config.type = CtrModelType::kLogreg;
    x.config.dense_dim = 3;
    s.push_back(x);
  }
  {
    Setup x{"fm", {}, true};
    x.config.type = CtrModelType::kFm;
    x.config.fields = 4;
    x.config.keys_have_fields = true;
    x.config.dense_dim = 2;
    x.config.dim = 4;
    s.push_back(x);
  }
  {
    Setup x{"dlrm", {}, true};
    x.config.type = CtrModelType::kDlrm;
    x.config.fields = 3;
    x.config.keys_have_fields = true;
    x.config.dense_dim = 2;
    x.config.dim = 3;
    x.config.hidden = {6, 4};
    s.push_back(x);
  }
  {
    Setup x{"dlrm mean pooling, no dense features", {}, true};
    x.config.type = CtrModelType::kDlrm;
    x.config.fields = 2;
    x.config.keys_have_fields = true;
    x.config.dim = 4;
    x.config.hidden = {5};
    x.config.activation = kernels::Activation::kTanh;
    x.config.mean_pooling = true;
    s.push_back(x);
  }
  return s;
}

std::vector<std::unique_ptr<kernels::Backend>> CpuBackends(int n) {
  auto backends = kernels::CreateBackends(kernels::DeviceKind::kCpu, n, n);
  REQUIRE(backends.ok());
  return std::move(*backends);
}

std::vector<kernels::Backend*> Pointers(const std::vector<std::unique_ptr<kernels::Backend>>& v) {
  std::vector<kernels::Backend*> out;
  for (const auto& b : v) out.push_back(b.get());
  return out;
}

// One step of `batch` on `group` and on `one`, from the same dense parameters and rows.
void CompareStep(CtrDeviceGroup& group, CtrModel& one, const CtrBatch& batch,
                 const std::vector<std::vector<float>>& dense, const std::string& what) {
  INFO(what);
  REQUIRE(one.SetBatch(batch).ok());
  const absl::Status set = group.SetBatch(batch);
  REQUIRE(set.ok());
  REQUIRE(std::vector<uint64_t>(group.unique_keys().begin(), group.unique_keys().end()) ==
          std::vector<uint64_t>(one.unique_keys().begin(), one.unique_keys().end()));
  FillRows(one);
  FillRows(group);
  SetDense(one, dense);
  SetDense(group, dense);
  const absl::StatusOr<CtrModel::Result> want = one.TrainStep();
  REQUIRE(want.ok());
  const absl::StatusOr<CtrModel::Result> got = group.TrainStep();
  REQUIRE(got.ok());
  CHECK(got->examples == want->examples);
  CHECK(std::fabs(got->loss_sum - want->loss_sum) <= 1e-5 * std::max(1.0, want->loss_sum));
  CheckClose(group.row_grads(), one.row_grads(), "row gradients");
  REQUIRE(group.num_dense() == one.num_dense());
  for (int t = 0; t < one.num_dense(); ++t) {
    CheckClose(group.dense_grad(t), one.dense_grad(t), absl::StrCat("dense gradient ", t));
  }
  CheckClose(group.probabilities(), one.probabilities(), "probabilities");
  // Not all zero: the comparison means something.
  float norm = 0;
  for (float g : one.row_grads()) norm += std::fabs(g);
  CHECK(norm > 0);
}

TEST_CASE("CtrDeviceGroup on 1, 2 and 3 devices gives one device's gradients of the batch") {
  for (const Setup& setup : Setups()) {
    CtrModelConfig config = setup.config;
    config.key_groups = kKeyGroups;
    auto reference_backends = CpuBackends(1);
    auto one = CtrModel::Create(config, reference_backends[0].get());
    REQUIRE(one.ok());
    for (int devices : {1, 2, 3}) {
      auto backends = CpuBackends(devices);
      auto group = CtrDeviceGroup::Create(config, Pointers(backends));
      REQUIRE(group.ok());
      REQUIRE((*group)->size() == devices);
      std::mt19937_64 rng(17 + devices);
      // 10 rows over 3 devices: slices of 4, 3, 3; 2 rows over 3: the last device sits out;
      // 1 row; then larger and smaller batches again (buffers reused).
      for (int rows : {10, 2, 1, 7, 33, 3}) {
        const CtrBatch batch = RandomBatch(rng, rows, config.fields, config.dense_dim,
                                           setup.criteo);
        CompareStep(**group, **one, batch, RandomDense(rng, **one),
                    absl::StrCat(setup.name, ", ", devices, " devices, ", rows, " rows"));
      }
    }
  }
}

TEST_CASE("CtrDeviceGroup wrapping one model is that model") {
  CtrModelConfig config;
  config.dense_dim = 1;
  auto model = CtrModel::Create(config, nullptr);
  REQUIRE(model.ok());
  CtrDeviceGroup group(model->get());
  CHECK(group.size() == 1);
  CHECK(&group.primary() == model->get());
  std::mt19937_64 rng(3);
  const CtrBatch batch = RandomBatch(rng, 5, 1, 1, false);
  REQUIRE(group.SetBatch(batch).ok());
  CHECK(group.rows().data() == (*model)->rows().data());
  CHECK(group.unique_keys().data() == (*model)->unique_keys().data());
  FillRows(group);
  REQUIRE(group.TrainStep().ok());
  CHECK(group.row_grads().data() == (*model)->row_grads().data());
  CHECK(group.dense_grad(0).data() == (*model)->dense_grad(0).data());
}

TEST_CASE("CtrDeviceGroup names a bad row by its device's slice of the batch") {
  CtrModelConfig config;
  config.dense_dim = 2;
  auto backends = CpuBackends(3);
  auto group = CtrDeviceGroup::Create(config, Pointers(backends));
  REQUIRE(group.ok());
  std::mt19937_64 rng(5);
  CtrBatch batch = RandomBatch(rng, 10, 1, 2, false);
  batch.labels[8] = 2.0f;  // device 2's slice is rows 7 to 9
  const absl::Status s = (*group)->SetBatch(batch);
  REQUIRE(s.code() == absl::StatusCode::kInvalidArgument);
  const std::string message(s.message());
  INFO(message);
  CHECK(message.find("device 2: rows 7 to 9 of the batch") != std::string::npos);
  CHECK(message.find("label 2") != std::string::npos);
  CHECK((*group)->TrainStep().status().code() == absl::StatusCode::kFailedPrecondition);

  CtrBatch empty;
  empty.dense_dim = 2;
  CHECK((*group)->SetBatch(empty).code() == absl::StatusCode::kInvalidArgument);
  CtrBatch malformed = RandomBatch(rng, 4, 1, 2, false);
  malformed.dense.pop_back();
  const absl::Status m = (*group)->SetBatch(malformed);
  CHECK(m.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(m.message()).find("malformed batch") != std::string::npos);
}

TEST_CASE("CtrDeviceGroup::Create refuses a bad config naming the device") {
  CtrModelConfig config;
  config.type = CtrModelType::kDlrm;
  config.hidden = {4};
  auto group = CtrDeviceGroup::Create(config, {nullptr, nullptr});
  REQUIRE(!group.ok());
  CHECK(std::string(group.status().message()).find("device 0") != std::string::npos);
  CHECK(!CtrDeviceGroup::Create(config, {}).ok());
}

}  // namespace
}  // namespace psd
