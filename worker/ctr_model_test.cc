// The click-through-rate models: gradients against central finite differences, a hand-computed
// example per model, sum and mean pooling, bad batches and configs, and the tensor shapes.
#include "worker/ctr_model.h"

#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/select.h"
#include "tests/testing.h"

namespace psd {
namespace {

using kernels::Activation;

kernels::Backend& Cpu() {
  static std::unique_ptr<kernels::Backend> cpu =
      std::move(kernels::CreateBackend(kernels::DeviceKind::kCpu, 1).value());
  return *cpu;
}

// A random batch. criteo: one key per field from a small vocabulary, value 1, plus (extra)
// a second key in some fields; else libsvm-like: 0 to 6 keys of field 0 from a tiny
// vocabulary (repeats within a row too), values in [-2, 2].
CtrBatch RandomBatch(std::mt19937_64& rng, int rows, int fields, int dense_dim, bool criteo,
                     bool extra = false) {
  std::uniform_real_distribution<float> unit(-1, 1);
  CtrBatch b;
  b.dense_dim = dense_dim;
  for (int r = 0; r < rows; ++r) {
    b.labels.push_back(static_cast<float>(rng() % 2));
    for (int j = 0; j < dense_dim; ++j) b.dense.push_back(unit(rng));
    if (criteo) {
      for (int f = 0; f < fields; ++f) {
        const int keys = extra && rng() % 3 == 0 ? 2 : 1;
        for (int i = 0; i < keys; ++i) {
          b.keys.push_back(rng() % 4 == 0 ? CriteoMissingKey(f) : CriteoKey(f, rng() % 3));
          b.values.push_back(1.0f);
        }
      }
    } else {
      const int keys = static_cast<int>(rng() % 7);
      for (int i = 0; i < keys; ++i) {
        b.keys.push_back(rng() % 5);
        b.values.push_back(2 * unit(rng));
      }
    }
    b.row_offsets.push_back(static_cast<int64_t>(b.keys.size()));
  }
  return b;
}

void RandomParams(std::mt19937_64& rng, CtrModel& m, float scale) {
  std::uniform_real_distribution<float> unit(-scale, scale);
  for (float& x : m.rows()) x = unit(rng);
  for (int t = 0; t < m.num_dense(); ++t) {
    for (float& x : m.dense_param(t)) x = unit(rng);
  }
}

double MeanLoss(CtrModel& m) {
  const CtrModel::Result r = m.Predict().value();
  return r.loss_sum / static_cast<double>(r.examples);
}

// Every dense and row gradient of the set batch against central differences of the mean loss.
void CheckGradients(CtrModel& m, const std::string& what) {
  INFO(what);
  REQUIRE(m.TrainStep().ok());
  const std::vector<float> row_grads(m.row_grads().begin(), m.row_grads().end());
  std::vector<std::vector<float>> dense_grads;
  for (int t = 0; t < m.num_dense(); ++t) {
    dense_grads.emplace_back(m.dense_grad(t).begin(), m.dense_grad(t).end());
  }
  constexpr float kEps = 1e-2f;
  int checked = 0;
  auto check = [&](float& param, float analytic, const std::string& name) {
    const float saved = param;
    param = saved + kEps;
    const double up = MeanLoss(m);
    param = saved - kEps;
    const double down = MeanLoss(m);
    param = saved;
    const double numeric = (up - down) / (2.0 * kEps);
    INFO(name << ": analytic " << analytic << ", numeric " << numeric);
    REQUIRE(std::abs(analytic - numeric) <=
            2e-2 * std::max(std::abs(numeric), std::abs(double{analytic})) + 2e-4);
    ++checked;
  };
  for (int t = 0; t < m.num_dense(); ++t) {
    absl::Span<float> p = m.dense_param(t);
    for (size_t i = 0; i < p.size(); ++i) {
      check(p[i], dense_grads[t][i], absl::StrCat("dense tensor ", t, " element ", i));
    }
  }
  absl::Span<float> rows = m.rows();
  for (size_t i = 0; i < rows.size(); ++i) {
    check(rows[i], row_grads[i],
          absl::StrCat("row ", i / m.row_dim(), " element ", i % m.row_dim()));
  }
  CHECK(checked > 0);
}

CtrModelConfig Criteo(CtrModelType type) {
  CtrModelConfig c;
  c.type = type;
  c.fields = 3;
  c.keys_have_fields = true;
  c.dense_dim = 2;
  c.dim = 3;
  c.hidden = {5, 4};
  c.activation = Activation::kTanh;
  return c;
}

CtrModelConfig Libsvm(CtrModelType type) {
  CtrModelConfig c = Criteo(type);
  c.fields = 1;
  c.keys_have_fields = false;
  c.dense_dim = 0;
  return c;
}

TEST_CASE("dlrm without hidden layers: gradients match central finite differences") {
  std::mt19937_64 rng(6);
  for (bool mean : {false, true}) {
    CtrModelConfig c = Criteo(CtrModelType::kDlrm);
    c.hidden = {};
    c.mean_pooling = mean;
    auto m = CtrModel::Create(c, &Cpu()).value();
    REQUIRE(m->SetBatch(RandomBatch(rng, 12, c.fields, c.dense_dim, true, true)).ok());
    RandomParams(rng, *m, 0.8f);
    CheckGradients(*m, mean ? "linear dlrm, mean" : "linear dlrm, sum");
  }
}

TEST_CASE("ctr models: every gradient matches central finite differences") {
  std::mt19937_64 rng(5);
  for (CtrModelType type : {CtrModelType::kLogreg, CtrModelType::kFm, CtrModelType::kDlrm}) {
    for (bool criteo : {true, false}) {
      for (bool mean : {false, true}) {
        if (mean && type != CtrModelType::kDlrm) continue;
        for (Activation act : {Activation::kTanh, Activation::kSigmoid}) {
          if (act != Activation::kTanh && type != CtrModelType::kDlrm) continue;
          CtrModelConfig c = criteo ? Criteo(type) : Libsvm(type);
          c.mean_pooling = mean;
          c.activation = act;
          auto m = CtrModel::Create(c, &Cpu()).value();
          for (int round = 0; round < 3; ++round) {
            const CtrBatch batch =
                RandomBatch(rng, 6 + round * 5, c.fields, c.dense_dim, criteo, round > 0);
            REQUIRE(m->SetBatch(batch).ok());
            CHECK(m->unique_keys().size() < batch.keys.size());  // repeated keys
            RandomParams(rng, *m, type == CtrModelType::kDlrm ? 0.8f : 0.5f);
            CheckGradients(*m, absl::StrCat(CtrModelTypeName(type), criteo ? " criteo" : " libsvm",
                                            mean ? " mean" : " sum", " act ", static_cast<int>(act),
                                            " round ", round));
          }
        }
      }
    }
  }
}

// A batch of explicit rows: each row a label, dense features and (key, value) pairs.
struct Row {
  float label;
  std::vector<float> dense;
  std::vector<std::pair<uint64_t, float>> keys;
};
CtrBatch MakeBatch(int dense_dim, const std::vector<Row>& rows) {
  CtrBatch b;
  b.dense_dim = dense_dim;
  for (const Row& r : rows) {
    b.labels.push_back(r.label);
    b.dense.insert(b.dense.end(), r.dense.begin(), r.dense.end());
    for (const auto& [k, v] : r.keys) {
      b.keys.push_back(k);
      b.values.push_back(v);
    }
    b.row_offsets.push_back(static_cast<int64_t>(b.keys.size()));
  }
  return b;
}

double Sigmoid(double z) { return 1.0 / (1.0 + std::exp(-z)); }

void Fill(absl::Span<float> dst, const std::vector<float>& values) {
  REQUIRE(dst.size() == values.size());
  std::copy(values.begin(), values.end(), dst.begin());
}

void CheckNear(absl::Span<const float> got, const std::vector<double>& want) {
  REQUIRE(got.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO("element " << i);
    CHECK(got[i] == Approx(want[i]).margin(1e-6).epsilon(1e-5));
  }
}

TEST_CASE("logreg by hand") {
  CtrModelConfig c;
  c.type = CtrModelType::kLogreg;
  c.dense_dim = 1;
  auto m = CtrModel::Create(c, nullptr).value();
  // Row 0: x = 2, keys A (val 1), B (val 3), label 1; row 1: x = 0, key A, label 0.
  REQUIRE(m->SetBatch(MakeBatch(1, {{1, {2}, {{10, 1}, {20, 3}}}, {0, {0}, {{10, 1}}}})).ok());
  REQUIRE(m->unique_keys().size() == 2);
  CHECK(m->unique_keys()[0] == 10);
  Fill(m->rows(), {0.2f, -0.1f});   // w_A, w_B
  Fill(m->dense_param(0), {0.5f});  // u
  Fill(m->dense_param(1), {0.1f});  // b
  const CtrModel::Result r = m->TrainStep().value();
  // z0 = 0.1 + 0.5 * 2 + 0.2 - 0.3 = 1.0; z1 = 0.1 + 0.2 = 0.3.
  const double g0 = Sigmoid(1.0) - 1, g1 = Sigmoid(0.3);
  CHECK(r.examples == 2);
  CHECK(r.loss_sum == Approx(std::log1p(std::exp(-1.0)) + 0.3 + std::log1p(std::exp(-0.3))));
  CheckNear(m->probabilities(), {Sigmoid(1.0), Sigmoid(0.3)});
  CheckNear(m->row_grads(), {(g0 + g1) / 2, 3 * g0 / 2});
  CheckNear(m->dense_grad(0), {2 * g0 / 2});
  CheckNear(m->dense_grad(1), {(g0 + g1) / 2});
}

TEST_CASE("fm by hand") {
  CtrModelConfig c;
  c.type = CtrModelType::kFm;
  c.dim = 2;
  auto m = CtrModel::Create(c, nullptr).value();
  REQUIRE(m->SetBatch(MakeBatch(0, {{0, {}, {{7, 1}, {9, 2}}}})).ok());
  // A: w 0.5, v (1, 2); B: w -0.25, v (3, -1). z = 0.5 - 0.5 + <vA, vB> * 1 * 2 = 2.
  Fill(m->rows(), {0.5f, 1, 2, -0.25f, 3, -1});
  Fill(m->dense_param(0), {0});
  const CtrModel::Result r = m->TrainStep().value();
  const double g = Sigmoid(2.0);
  CHECK(r.loss_sum == Approx(2 + std::log1p(std::exp(-2.0))));
  // dz/dv_A = val_A * val_B v_B = (6, -2); dz/dv_B = val_B * val_A v_A = (2, 4).
  CheckNear(m->row_grads(), {g, 6 * g, -2 * g, 2 * g, 2 * g, 4 * g});
  CheckNear(m->dense_grad(0), {g});
}

TEST_CASE("dlrm by hand, sum and mean pooling") {
  CtrModelConfig c;
  c.type = CtrModelType::kDlrm;
  c.fields = 2;
  c.keys_have_fields = true;
  c.dense_dim = 1;
  c.dim = 1;
  c.hidden = {2};
  c.activation = Activation::kRelu;
  for (bool mean : {false, true}) {
    INFO((mean ? "mean" : "sum"));
    c.mean_pooling = mean;
    auto m = CtrModel::Create(c, &Cpu()).value();
    // x = 1; field 0: K0; field 1: K1 and K2 (the field order of the row need not be sorted).
    const uint64_t k0 = CriteoKey(0, 5), k1 = CriteoKey(1, 5), k2 = CriteoKey(1, 6);
    REQUIRE(m->SetBatch(MakeBatch(1, {{1, {1}, {{k1, 1}, {k0, 1}, {k2, 1}}}})).ok());
    REQUIRE(m->unique_keys().size() == 3);            // k1, k0, k2
    Fill(m->rows(), {1, 2, 3});                       // e_k1, e_k0, e_k2
    Fill(m->dense_param(0), {1, 0, 0.5f, 1, 1, -1});  // W0 [3, 2]: rows x, bag_0, bag_1
    Fill(m->dense_param(1), {0, 0.5f});
    Fill(m->dense_param(2), {0.1f, 1});  // W1 [2, 1]
    Fill(m->dense_param(3), {0.2f});
    const CtrModel::Result r = m->TrainStep().value();
    if (!mean) {
      // h = [1, 2, 4]; pre = [1 + 1 + 4, 2 - 4 + 0.5] = [6, -1.5]; y0 = [6, 0]; z = 0.8.
      const double g = Sigmoid(0.8) - 1;
      CHECK(r.loss_sum == Approx(std::log1p(std::exp(-0.8))));
      // dpre = [0.1 g, 0]; dh = W0 dpre = [0.1 g, 0.05 g, 0.1 g].
      CheckNear(m->row_grads(), {0.1 * g, 0.05 * g, 0.1 * g});
      CheckNear(m->dense_grad(0), {0.1 * g, 0, 0.2 * g, 0, 0.4 * g, 0});
      CheckNear(m->dense_grad(1), {0.1 * g, 0});
      CheckNear(m->dense_grad(2), {6 * g, 0});
      CheckNear(m->dense_grad(3), {g});
    } else {
      // h = [1, 2, 2]; pre = [4, 0.5]; z = 0.4 + 0.5 + 0.2 = 1.1.
      const double g = Sigmoid(1.1) - 1;
      CHECK(r.loss_sum == Approx(std::log1p(std::exp(-1.1))));
      // dpre = [0.1 g, g]; dh = [0.1 g, 1.05 g, -0.9 g]; field 1's two keys get half each.
      CheckNear(m->row_grads(), {-0.45 * g, 1.05 * g, -0.45 * g});
      CheckNear(m->dense_grad(0), {0.1 * g, g, 0.2 * g, 2 * g, 0.2 * g, 2 * g});
      CheckNear(m->dense_grad(1), {0.1 * g, g});
      CheckNear(m->dense_grad(2), {4 * g, 0.5 * g});
      CheckNear(m->dense_grad(3), {g});
    }
    CheckNear(m->probabilities(), {Sigmoid(mean ? 1.1 : 0.8)});
  }
}

TEST_CASE("ctr models: the loss is stable for large logits") {
  CtrModelConfig c;
  c.type = CtrModelType::kLogreg;
  auto m = CtrModel::Create(c, nullptr).value();
  REQUIRE(m->SetBatch(MakeBatch(0, {{1, {}, {{1, 1}}}, {0, {}, {{1, 1}}}})).ok());
  Fill(m->rows(), {200});
  Fill(m->dense_param(0), {0});
  const CtrModel::Result r = m->TrainStep().value();
  CHECK(std::isfinite(r.loss_sum));
  CHECK(r.loss_sum == Approx(200));  // the wrong row costs 200, the right one ~0
  CheckNear(m->probabilities(), {1, 1});
  CheckNear(m->row_grads(), {0.5});
}

TEST_CASE("ctr models: a batch without any key trains on the dense part alone") {
  for (CtrModelType type : {CtrModelType::kLogreg, CtrModelType::kFm, CtrModelType::kDlrm}) {
    INFO(CtrModelTypeName(type));
    CtrModelConfig c = Criteo(type);
    auto m = CtrModel::Create(c, &Cpu()).value();
    REQUIRE(m->SetBatch(MakeBatch(2, {{1, {0.5f, -1}, {}}, {0, {2, 1}, {}}})).ok());
    CHECK(m->unique_keys().empty());
    CHECK(m->rows().empty());
    std::mt19937_64 rng(1);
    RandomParams(rng, *m, 0.5f);
    const CtrModel::Result r = m->TrainStep().value();
    CHECK(r.examples == 2);
    CHECK(std::isfinite(r.loss_sum));
    CHECK(m->row_grads().empty());
    CheckGradients(*m, "no keys");
  }
}

TEST_CASE("ctr models: bad batches are errors that name the problem") {
  CtrModelConfig c = Criteo(CtrModelType::kDlrm);
  auto m = CtrModel::Create(c, &Cpu()).value();
  std::mt19937_64 rng(3);
  auto error = [&](const CtrBatch& b) { return std::string(m->SetBatch(b).message()); };
  CHECK(m->TrainStep().status().code() == absl::StatusCode::kFailedPrecondition);
  CtrBatch good = RandomBatch(rng, 4, c.fields, c.dense_dim, true);
  REQUIRE(m->SetBatch(good).ok());

  CHECK(error(CtrBatch{}).find("no rows") != std::string::npos);
  CtrBatch b = RandomBatch(rng, 4, c.fields, 3, true);
  CHECK(error(b).find("3 dense features per row, the model expects 2") != std::string::npos);
  b = good;
  b.keys[5] = CriteoKey(7, 1);
  CHECK(error(b).find("row 1: key 0x700000000000001 is in field 7, the model has 3 fields") !=
        std::string::npos);
  // After a failed SetBatch the model has no batch.
  CHECK(m->TrainStep().status().code() == absl::StatusCode::kFailedPrecondition);
  b = good;
  b.labels[2] = 2;
  CHECK(error(b).find("row 2: label 2 is outside [0, 1]") != std::string::npos);
  b = good;
  b.values.pop_back();
  CHECK(error(b).find("malformed batch") != std::string::npos);
  b = good;
  b.dense.pop_back();
  CHECK(m->SetBatch(b).code() == absl::StatusCode::kInvalidArgument);

  // Without keys_have_fields a Criteo key is in field 0.
  CtrModelConfig flat = Libsvm(CtrModelType::kLogreg);
  auto lr = CtrModel::Create(flat, nullptr).value();
  CHECK(lr->SetBatch(RandomBatch(rng, 4, 3, 0, true)).ok());
}

TEST_CASE("ctr models: bad configs are refused") {
  auto code = [](CtrModelConfig c) { return CtrModel::Create(c, &Cpu()).status().code(); };
  CtrModelConfig c = Criteo(CtrModelType::kDlrm);
  CHECK(code(c) == absl::StatusCode::kOk);
  c.fields = 0;
  CHECK(code(c) == absl::StatusCode::kInvalidArgument);
  c = Criteo(CtrModelType::kFm);
  c.dim = 0;
  CHECK(code(c) == absl::StatusCode::kInvalidArgument);
  c = Criteo(CtrModelType::kDlrm);
  c.hidden = {4, 0};
  CHECK(code(c) == absl::StatusCode::kInvalidArgument);
  c = Criteo(CtrModelType::kDlrm);
  c.dense_dim = -1;
  CHECK(code(c) == absl::StatusCode::kInvalidArgument);
  CHECK(CtrModel::Create(Criteo(CtrModelType::kDlrm), nullptr).status().code() ==
        absl::StatusCode::kInvalidArgument);
  CHECK(CtrModel::Create(Criteo(CtrModelType::kFm), nullptr).ok());
}

TEST_CASE("ctr dense shapes and row widths") {
  CtrModelConfig c;
  c.type = CtrModelType::kLogreg;
  c.dense_dim = 13;
  CHECK(CtrDenseShapes(c) == std::vector<std::vector<int64_t>>{{13, 1}, {1}});
  CHECK(CtrRowDim(c) == 1);
  c.dense_dim = 0;
  CHECK(CtrDenseShapes(c) == std::vector<std::vector<int64_t>>{{1}});
  c.type = CtrModelType::kFm;
  c.dim = 16;
  CHECK(CtrRowDim(c) == 17);
  CHECK(CtrDenseShapes(c) == std::vector<std::vector<int64_t>>{{1}});
  c.type = CtrModelType::kDlrm;
  c.fields = 26;
  c.dense_dim = 13;
  c.hidden = {64, 32};
  CHECK(CtrRowDim(c) == 16);
  CHECK(CtrDenseShapes(c) ==
        std::vector<std::vector<int64_t>>{{13 + 26 * 16, 64}, {64}, {64, 32}, {32}, {32, 1}, {1}});
  c.hidden = {};
  CHECK(CtrDenseShapes(c) == std::vector<std::vector<int64_t>>{{13 + 26 * 16, 1}, {1}});
}

// The staging path (a backend that is not host-addressable) against the CPU: skipped without
// a GPU.
TEST_CASE("dlrm on cuda matches the cpu") {
  absl::StatusOr<std::unique_ptr<kernels::Backend>> cuda =
      kernels::CreateBackend(kernels::DeviceKind::kCuda, 0);
  if (!cuda.ok()) PSD_SKIP("no CUDA device: " + cuda.status().ToString());
  std::mt19937_64 rng(9);
  CtrModelConfig c = Criteo(CtrModelType::kDlrm);
  c.mean_pooling = true;
  auto on_cpu = CtrModel::Create(c, &Cpu()).value();
  auto on_cuda = CtrModel::Create(c, cuda->get()).value();
  for (int round = 0; round < 3; ++round) {
    const CtrBatch batch = RandomBatch(rng, 50 + 300 * round, c.fields, c.dense_dim, true, true);
    REQUIRE(on_cpu->SetBatch(batch).ok());
    REQUIRE(on_cuda->SetBatch(batch).ok());
    RandomParams(rng, *on_cpu, 0.8f);
    std::copy(on_cpu->rows().begin(), on_cpu->rows().end(), on_cuda->rows().begin());
    for (int t = 0; t < on_cpu->num_dense(); ++t) {
      std::copy(on_cpu->dense_param(t).begin(), on_cpu->dense_param(t).end(),
                on_cuda->dense_param(t).begin());
    }
    const CtrModel::Result a = on_cpu->TrainStep().value();
    const CtrModel::Result b = on_cuda->TrainStep().value();
    CHECK(b.loss_sum == Approx(a.loss_sum).epsilon(1e-5));
    auto close = [](absl::Span<const float> x, absl::Span<const float> y) {
      REQUIRE(x.size() == y.size());
      for (size_t i = 0; i < x.size(); ++i) CHECK(y[i] == Approx(x[i]).margin(1e-6).epsilon(1e-4));
    };
    close(on_cpu->row_grads(), on_cuda->row_grads());
    close(on_cpu->probabilities(), on_cuda->probabilities());
    for (int t = 0; t < on_cpu->num_dense(); ++t) {
      close(on_cpu->dense_grad(t), on_cuda->dense_grad(t));
    }
  }
}

}  // namespace
}  // namespace psd
