// CRC-32C (Castagnoli), the checksum of checkpoint chunks and model files.
#ifndef PSD_COMMON_CRC32C_H_
#define PSD_COMMON_CRC32C_H_

#include <cstddef>
#include <cstdint>

namespace psd {

// Extends `crc` (0 for a fresh checksum) over `n` bytes; uses SSE4.2 when the CPU has it.
uint32_t Crc32c(const void* data, size_t n, uint32_t crc = 0);

}  // namespace psd

#endif  // PSD_COMMON_CRC32C_H_
