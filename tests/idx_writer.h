// Writes IDX files (the Fashion-MNIST format) for tests that need small data sets on disk.
#ifndef PSD_TESTS_IDX_WRITER_H_
#define PSD_TESTS_IDX_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace psd::testing {

// The bytes of an IDX file of unsigned bytes with dimensions `dims` (outermost first). The
// values need not fill the dimensions: tests of bad files write headers that lie.
std::string IdxBytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& values);

// An uncompressed IDX file of unsigned bytes with dimensions `dims` (outermost first).
void WriteIdx(const std::string& path, const std::vector<uint32_t>& dims,
              const std::vector<uint8_t>& values);

// Writes `bytes` to `path` gzip-compressed.
void WriteGzip(const std::string& path, const std::string& bytes);

}  // namespace psd::testing

#endif  // PSD_TESTS_IDX_WRITER_H_
