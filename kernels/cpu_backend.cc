#include "kernels/cpu_backend.h"

#include <cblas.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "kernels/cpu_ops.h"

namespace psd::kernels {
namespace {

constexpr int64_t kAlignment = 64;

// Streams and events need a non-null native handle; the CPU has nothing behind them.
int g_handle_sentinel = 0;

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(int threads) : threads_(threads) {
    openblas_set_num_threads(threads_);
    // Creating a CPU stream cannot fail.
    (void)InitDefaultStream();
  }
  ~CpuBackend() override { default_stream_.Reset(); }

  absl::string_view name() const override { return "cpu"; }
  std::string description() const override {
    return absl::StrCat(CpuModelName(), ", ", threads_, " threads, OpenBLAS ",
                        openblas_get_corename());
  }
  bool host_addressable() const override { return true; }

 private:
  absl::StatusOr<void*> DoAllocate(MemoryKind, int64_t bytes) override {
    const int64_t rounded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
    void* p = std::aligned_alloc(kAlignment, static_cast<size_t>(rounded));
    if (p == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat("cpu: cannot allocate ", bytes, " bytes"));
    }
    return p;
  }
  void DoFree(MemoryKind, void* p) override { std::free(p); }
  absl::StatusOr<void*> DoCreate(HandleKind) override { return &g_handle_sentinel; }
  void DoDestroy(HandleKind, void*) override {}
  absl::Status DoRecord(void*, void*) override { return absl::OkStatus(); }
  absl::Status DoWait(void*, void*) override { return absl::OkStatus(); }
  absl::StatusOr<bool> DoQuery(void*) override { return true; }
  absl::Status DoSynchronize(HandleKind, void*) override { return absl::OkStatus(); }
  absl::Status DoCopy(void*, CopyKind, void* dst, const void* src, int64_t bytes) override {
    std::memmove(dst, src, static_cast<size_t>(bytes));
    return absl::OkStatus();
  }

  absl::Status DoGemm(void*, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                      float beta, float* c, int64_t ldc) override {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb),
                beta, c, static_cast<int>(ldc));
    return absl::OkStatus();
  }
  absl::Status DoBiasActivation(void*, bool activate, Activation act, int64_t rows, int64_t cols,
                                const float* bias, float* y) override {
    cpu::BiasActivation(activate, act, rows, cols, bias, y);
    return absl::OkStatus();
  }
  absl::Status DoActivationForward(void*, Activation act, int64_t n, const float* x,
                                   float* y) override {
    cpu::ActivationForward(act, n, x, y);
    return absl::OkStatus();
  }
  absl::Status DoActivationBackward(void*, Activation act, int64_t n, const float* y,
                                    const float* dy, float* dx) override {
    cpu::ActivationBackward(act, n, y, dy, dx);
    return absl::OkStatus();
  }
  absl::Status DoBiasGrad(void*, int64_t rows, int64_t cols, const float* dy, float* db) override {
    cpu::BiasGrad(rows, cols, dy, db);
    return absl::OkStatus();
  }
  absl::Status DoSoftmaxXent(void*, int64_t rows, int64_t classes, const float* logits,
                             const int32_t* labels, float scale, float* dlogits,
                             float* loss_sum) override {
    const double loss = cpu::SoftmaxXent(rows, classes, logits, labels, scale, dlogits);
    if (loss < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("SoftmaxXent: a label is outside [0, ", classes, ")"));
    }
    *loss_sum = static_cast<float>(loss);
    return absl::OkStatus();
  }
  absl::Status DoCountCorrect(void*, int64_t rows, int64_t classes, const float* logits,
                              const int32_t* labels, int32_t* correct) override {
    *correct = cpu::CountCorrect(rows, classes, logits, labels);
    return absl::OkStatus();
  }
  absl::Status DoFill(void*, int64_t n, float value, float* x) override {
    cpu::Fill(n, value, x);
    return absl::OkStatus();
  }
  absl::Status DoAxpy(void*, int64_t n, float alpha, const float* x, float* y) override {
    cpu::Axpy(n, alpha, x, y);
    return absl::OkStatus();
  }
  absl::Status DoScale(void*, int64_t n, float alpha, float* x) override {
    cpu::Scale(n, alpha, x);
    return absl::OkStatus();
  }
  absl::Status DoSgdMomentum(void*, int64_t n, float lr, float momentum, float weight_decay,
                             const float* grad, float* velocity, float* param) override {
    cpu::SgdMomentum(n, lr, momentum, weight_decay, grad, velocity, param);
    return absl::OkStatus();
  }
  absl::Status DoEmbeddingBagForward(void*, const float* rows, int64_t num_rows, int64_t dim,
                                     const int32_t* index, const float* weights,
                                     const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                     float* out) override {
    if (!cpu::EmbeddingBagForward(rows, num_rows, dim, index, weights, bag_offsets, num_bags, mean,
                                  out)) {
      return absl::InvalidArgumentError(
          absl::StrCat("EmbeddingBagForward: an index is outside [0, ", num_rows, ")"));
    }
    return absl::OkStatus();
  }
  absl::Status DoEmbeddingBagBackward(void*, const float* dout, int64_t num_rows, int64_t dim,
                                      const int32_t* index, const float* weights,
                                      const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                      float* drows) override {
    if (!cpu::EmbeddingBagBackward(dout, num_rows, dim, index, weights, bag_offsets, num_bags, mean,
                                   drows)) {
      return absl::InvalidArgumentError(
          absl::StrCat("EmbeddingBagBackward: an index is outside [0, ", num_rows, ")"));
    }
    return absl::OkStatus();
  }

  int threads_;
};

}  // namespace

std::string CpuModelName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "model name")) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) {
        return std::string(absl::StripAsciiWhitespace(line.substr(colon + 1)));
      }
    }
  }
  return "cpu";
}

int CpuThreads(int threads) {
  if (threads > 0) return threads;
  const unsigned cores = std::thread::hardware_concurrency();
  return cores > 0 ? static_cast<int>(cores) : 1;
}

std::unique_ptr<Backend> CreateCpuBackend(int threads) {
  return std::make_unique<CpuBackend>(CpuThreads(threads));
}

}  // namespace psd::kernels
