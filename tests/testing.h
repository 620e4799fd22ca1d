// Helpers shared by psd's Catch2 tests.
#ifndef PSD_TESTS_TESTING_H_
#define PSD_TESTS_TESTING_H_

#include <string>

#include "catch2/catch.hpp"

namespace psd::testing {

// Records that the running test case was skipped, so the summary counts it as skipped.
void MarkSkipped(const std::string& reason);

}  // namespace psd::testing

// Ends the current test case as skipped (not passed), e.g. PSD_SKIP("no CUDA device").
#define PSD_SKIP(reason)                 \
  do {                                   \
    ::psd::testing::MarkSkipped(reason); \
    WARN("skipped: " << (reason));       \
    return;                              \
  } while (false)

#endif  // PSD_TESTS_TESTING_H_
