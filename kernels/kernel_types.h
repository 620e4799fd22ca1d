// The vocabulary of the compute backends, independent of any job spec.
#ifndef PSD_KERNELS_KERNEL_TYPES_H_
#define PSD_KERNELS_KERNEL_TYPES_H_

namespace psd::kernels {

// Element-wise nonlinearity of a dense layer.
enum class Activation { kRelu, kTanh, kSigmoid };

// Which backend to create: kAuto picks CUDA when a device is usable, else the CPU.
enum class DeviceKind { kAuto, kCpu, kCuda };

}  // namespace psd::kernels

#endif  // PSD_KERNELS_KERNEL_TYPES_H_
