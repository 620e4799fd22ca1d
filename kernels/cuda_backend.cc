#include "kernels/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <spdlog/spdlog.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_macros.h"
#include "kernels/cuda_kernels.h"

namespace psd::kernels {
namespace {

// psd builds sm_90 code plus compute_90 PTX (bazel/cuda.bzl): older GPUs cannot run it.
constexpr int kMinComputeMajor = 9;

// "cudaMalloc(&p, bytes)" -> "cudaMalloc": errors name the call, not its arguments.
absl::string_view CallName(absl::string_view call) { return call.substr(0, call.find('(')); }

absl::Status CudaStatus(cudaError_t err, absl::string_view call) {
  if (err == cudaSuccess) return absl::OkStatus();
  const std::string message = absl::StrCat(
      "cuda: ", CallName(call), " failed: ", cudaGetErrorName(err), ": ", cudaGetErrorString(err));
  if (err == cudaErrorMemoryAllocation) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

absl::Status CublasStatus(cublasStatus_t st, absl::string_view call) {
  if (st == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message =
      absl::StrCat("cublas: ", CallName(call), " failed: ", cublasGetStatusName(st), ": ",
                   cublasGetStatusString(st));
  if (st == CUBLAS_STATUS_ALLOC_FAILED) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

#define PSD_CUDA(call) PSD_RETURN_IF_ERROR(CudaStatus((call), #call))
#define PSD_CUBLAS(call) PSD_RETURN_IF_ERROR(CublasStatus((call), #call))

// What a Stream's native handle points at: the stream and the cuBLAS handle bound to it.
struct CudaStream {
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
};

cudaStream_t Raw(void* s) { return static_cast<CudaStream*>(s)->stream; }

cuda::Act ToAct(Activation act) {
  switch (act) {
    case Activation::kRelu:
      return cuda::Act::kRelu;
    case Activation::kTanh:
      return cuda::Act::kTanh;
    case Activation::kSigmoid:
      return cuda::Act::kSigmoid;
  }
  return cuda::Act::kNone;
}

cudaMemcpyKind ToMemcpyKind(CopyKind kind) {
  switch (kind) {
    case CopyKind::kHostToDevice:
      return cudaMemcpyHostToDevice;
    case CopyKind::kDeviceToHost:
      return cudaMemcpyDeviceToHost;
    case CopyKind::kDeviceToDevice:
      return cudaMemcpyDeviceToDevice;
  }
  return cudaMemcpyDefault;
}

void LogIfError(absl::Status status) {
  if (!status.ok()) spdlog::warn("{}", status.ToString());
}

class CudaBackend final : public Backend {
 public:
  CudaBackend(int device, std::string description)
      : device_(device), description_(std::move(description)) {}
  ~CudaBackend() override { default_stream_.Reset(); }

  absl::Status Init() {
    PSD_CUDA(cudaSetDevice(device_));
    return InitDefaultStream();
  }

  absl::string_view name() const override { return "cuda"; }
  std::string description() const override { return description_; }
  int device_index() const override { return device_; }
  bool host_addressable() const override { return false; }
  absl::Status MakeCurrent() override {
    PSD_CUDA(cudaSetDevice(device_));
    return absl::OkStatus();
  }

 private:
  absl::StatusOr<void*> DoAllocate(MemoryKind kind, int64_t bytes) override {
    void* p = nullptr;
    if (kind == MemoryKind::kDevice) {
      PSD_CUDA(cudaMalloc(&p, static_cast<size_t>(bytes)));
    } else {
      PSD_CUDA(cudaMallocHost(&p, static_cast<size_t>(bytes)));
    }
    return p;
  }

  void DoFree(MemoryKind kind, void* p) override {
    if (kind == MemoryKind::kDevice) {
      LogIfError(CudaStatus(cudaFree(p), "cudaFree"));
    } else {
      LogIfError(CudaStatus(cudaFreeHost(p), "cudaFreeHost"));
    }
  }

  absl::StatusOr<void*> DoCreate(HandleKind kind) override {
    if (kind == HandleKind::kEvent) {
      cudaEvent_t event = nullptr;
      PSD_CUDA(cudaEventCreateWithFlags(&event, cudaEventDisableTiming));
      return static_cast<void*>(event);
    }
    PSD_CUDA(cudaSetDevice(device_));
    auto s = std::make_unique<CudaStream>();
    PSD_CUDA(cudaStreamCreateWithFlags(&s->stream, cudaStreamNonBlocking));
    if (absl::Status st = CublasStatus(cublasCreate(&s->blas), "cublasCreate"); !st.ok()) {
      cudaStreamDestroy(s->stream);
      return st;
    }
    if (absl::Status st = CublasStatus(cublasSetStream(s->blas, s->stream), "cublasSetStream");
        !st.ok()) {
      cublasDestroy(s->blas);
      cudaStreamDestroy(s->stream);
      return st;
    }
    return static_cast<void*>(s.release());
  }

  void DoDestroy(HandleKind kind, void* native) override {
    if (kind == HandleKind::kEvent) {
      LogIfError(
          CudaStatus(cudaEventDestroy(static_cast<cudaEvent_t>(native)), "cudaEventDestroy"));
      return;
    }
    std::unique_ptr<CudaStream> s(static_cast<CudaStream*>(native));
    LogIfError(CublasStatus(cublasDestroy(s->blas), "cublasDestroy"));
    LogIfError(CudaStatus(cudaStreamDestroy(s->stream), "cudaStreamDestroy"));
  }

  absl::Status DoRecord(void* event, void* stream) override {
    PSD_CUDA(cudaEventRecord(static_cast<cudaEvent_t>(event), Raw(stream)));
    return absl::OkStatus();
  }

  absl::Status DoWait(void* stream, void* event) override {
    PSD_CUDA(cudaStreamWaitEvent(Raw(stream), static_cast<cudaEvent_t>(event), 0));
    return absl::OkStatus();
  }

  absl::StatusOr<bool> DoQuery(void* event) override {
    const cudaError_t err = cudaEventQuery(static_cast<cudaEvent_t>(event));
    if (err == cudaErrorNotReady) {
      (void)cudaGetLastError();  // "not ready" is an answer, not an error to report later
      return false;
    }
    PSD_RETURN_IF_ERROR(CudaStatus(err, "cudaEventQuery"));
    return true;
  }

  absl::Status DoSynchronize(HandleKind kind, void* native) override {
    if (kind == HandleKind::kEvent) {
      PSD_CUDA(cudaEventSynchronize(static_cast<cudaEvent_t>(native)));
    } else {
      PSD_CUDA(cudaStreamSynchronize(Raw(native)));
    }
    return absl::OkStatus();
  }

  absl::Status DoCopy(void* s, CopyKind kind, void* dst, const void* src, int64_t bytes) override {
    PSD_CUDA(cudaMemcpyAsync(dst, src, static_cast<size_t>(bytes), ToMemcpyKind(kind), Raw(s)));
    return absl::OkStatus();
  }

  // Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: swap the operands.
  absl::Status DoGemm(void* s, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                      float alpha, const float* a, int64_t lda, const float* b, int64_t ldb,
                      float beta, float* c, int64_t ldc) override {
    PSD_CUBLAS(cublasSgemm(static_cast<CudaStream*>(s)->blas, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                           trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, static_cast<int>(n),
                           static_cast<int>(m), static_cast<int>(k), &alpha, b,
                           static_cast<int>(ldb), a, static_cast<int>(lda), &beta, c,
                           static_cast<int>(ldc)));
    return absl::OkStatus();
  }

  absl::Status DoBiasActivation(void* s, bool activate, Activation act, int64_t rows, int64_t cols,
                                const float* bias, float* y) override {
    PSD_CUDA(cuda::BiasActivation(Raw(s), activate ? ToAct(act) : cuda::Act::kNone, rows, cols,
                                  bias, y));
    return absl::OkStatus();
  }
  absl::Status DoActivationForward(void* s, Activation act, int64_t n, const float* x,
                                   float* y) override {
    PSD_CUDA(cuda::ActivationForward(Raw(s), ToAct(act), n, x, y));
    return absl::OkStatus();
  }
  absl::Status DoActivationBackward(void* s, Activation act, int64_t n, const float* y,
                                    const float* dy, float* dx) override {
    PSD_CUDA(cuda::ActivationBackward(Raw(s), ToAct(act), n, y, dy, dx));
    return absl::OkStatus();
  }
  absl::Status DoBiasGrad(void* s, int64_t rows, int64_t cols, const float* dy,
                          float* db) override {
    PSD_CUDA(cuda::BiasGrad(Raw(s), rows, cols, dy, db));
    return absl::OkStatus();
  }
  absl::Status DoSoftmaxXent(void* s, int64_t rows, int64_t classes, const float* logits,
                             const int32_t* labels, float scale, float* dlogits,
                             float* loss_sum) override {
    PSD_CUDA(cuda::SoftmaxXent(Raw(s), rows, classes, logits, labels, scale, dlogits, loss_sum));
    return absl::OkStatus();
  }
  absl::Status DoCountCorrect(void* s, int64_t rows, int64_t classes, const float* logits,
                              const int32_t* labels, int32_t* correct) override {
    PSD_CUDA(cuda::CountCorrect(Raw(s), rows, classes, logits, labels, correct));
    return absl::OkStatus();
  }
  absl::Status DoFill(void* s, int64_t n, float value, float* x) override {
    PSD_CUDA(cuda::Fill(Raw(s), n, value, x));
    return absl::OkStatus();
  }
  absl::Status DoAxpy(void* s, int64_t n, float alpha, const float* x, float* y) override {
    PSD_CUDA(cuda::Axpy(Raw(s), n, alpha, x, y));
    return absl::OkStatus();
  }
  absl::Status DoScale(void* s, int64_t n, float alpha, float* x) override {
    PSD_CUDA(cuda::Scale(Raw(s), n, alpha, x));
    return absl::OkStatus();
  }
  absl::Status DoSgdMomentum(void* s, int64_t n, float lr, float momentum, float weight_decay,
                             const float* grad, float* velocity, float* param) override {
    PSD_CUDA(cuda::SgdMomentum(Raw(s), n, lr, momentum, weight_decay, grad, velocity, param));
    return absl::OkStatus();
  }
  absl::Status DoEmbeddingBagForward(void* s, const float* rows, int64_t, int64_t dim,
                                     const int32_t* index, const float* weights,
                                     const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                     float* out) override {
    PSD_CUDA(cuda::EmbeddingBagForward(Raw(s), rows, dim, index, weights, bag_offsets, num_bags,
                                       mean, out));
    return absl::OkStatus();
  }
  absl::Status DoEmbeddingBagBackward(void* s, const float* dout, int64_t, int64_t dim,
                                      const int32_t* index, const float* weights,
                                      const int32_t* bag_offsets, int64_t num_bags, bool mean,
                                      float* drows) override {
    PSD_CUDA(cuda::EmbeddingBagBackward(Raw(s), dout, dim, index, weights, bag_offsets, num_bags,
                                        mean, drows));
    return absl::OkStatus();
  }

  int device_;
  std::string description_;
};

DeviceInfo NoDevice(std::string detail) {
  DeviceInfo info;
  info.kind = DeviceKind::kCuda;
  info.name = "none";
  info.usable = false;
  info.detail = std::move(detail);
  return info;
}

}  // namespace

std::vector<DeviceInfo> DescribeCudaDevices() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return {NoDevice(cudaGetErrorString(err))};
  }
  if (count == 0) return {NoDevice("no CUDA device found")};
  std::vector<DeviceInfo> devices;
  for (int i = 0; i < count; ++i) {
    DeviceInfo info;
    info.kind = DeviceKind::kCuda;
    info.index = i;
    cudaDeviceProp prop;
    if (const cudaError_t e = cudaGetDeviceProperties(&prop, i); e != cudaSuccess) {
      (void)cudaGetLastError();
      info.name = "unknown";
      info.usable = false;
      info.detail = absl::StrCat("cudaGetDeviceProperties: ", cudaGetErrorString(e));
    } else {
      info.name = prop.name;
      info.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
      info.usable = prop.major >= kMinComputeMajor;
      if (!info.usable) {
        info.detail = absl::StrCat("compute capability ", prop.major, ".", prop.minor, " is below ",
                                   kMinComputeMajor, ".0 (psd builds sm_90)");
      }
    }
    devices.push_back(std::move(info));
  }
  return devices;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device) {
  for (const DeviceInfo& info : DescribeCudaDevices()) {
    if (info.index != device || info.name == "none") continue;
    if (!info.usable) {
      return absl::FailedPreconditionError(
          absl::StrCat("CUDA device ", device, " (", info.name, "): ", info.detail));
    }
    auto backend = std::make_unique<CudaBackend>(
        device, absl::StrFormat("%s, %.1f GiB, device %d", info.name,
                                info.memory_bytes / double{1 << 30}, device));
    PSD_RETURN_IF_ERROR(backend->Init());
    return backend;
  }
  return absl::FailedPreconditionError(absl::StrCat("no CUDA device ", device));
}

}  // namespace psd::kernels
