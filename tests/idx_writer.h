// Writes IDX files (the Fashion-MNIST format) for tests that need small data sets on disk.
#ifndef PSD_TESTS_IDX_WRITER_H_
#define PSD_TESTS_IDX_WRITER_H_

#include <cstdint>
#include <string>
#include <vector>

namespace psd::testing {

// An uncompressed IDX file of unsigned bytes with dimensions `dims` (outermost first).
void WriteIdx(const std::string& path, const std::vector<uint32_t>& dims,
              const std::vector<uint8_t>& values);

}  // namespace psd::testing

#endif  // PSD_TESTS_IDX_WRITER_H_
