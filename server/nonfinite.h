// Counting NaN and infinite values in a received gradient, read in place (f32 or f16, in
// pieces, at any alignment): one vectorised read-only pass, no copy of the payload.
#ifndef PSD_SERVER_NONFINITE_H_
#define PSD_SERVER_NONFINITE_H_

#include <cstdint>

#include "common/payload.h"

namespace psd {

// The values of `grad` that are NaN or +-infinity (exponent bits all ones).
int64_t CountNonFinite(const Payload& grad);

}  // namespace psd

#endif  // PSD_SERVER_NONFINITE_H_
