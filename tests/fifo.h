// FIFOs for tests of code that must refuse them instead of blocking on them.
#ifndef PSD_TESTS_FIFO_H_
#define PSD_TESTS_FIFO_H_

#include <functional>
#include <string>

#include "absl/time/time.h"

namespace psd::testing {

// Creates a FIFO (named pipe) at `path`; false if it cannot.
bool MakeFifo(const std::string& path);

// Runs `fn` on its own thread and waits up to `timeout` for it to return. If it has not,
// it is taken to be blocked on the FIFO at `fifo`: a writer opens and closes the FIFO to
// unblock it (a reader then sees end of file), the thread gets another `timeout`, and the
// result is false. A thread still blocked after that is left behind, detached.
bool ReturnsWithin(absl::Duration timeout, const std::string& fifo,
                   const std::function<void()>& fn);

}  // namespace psd::testing

#endif  // PSD_TESTS_FIFO_H_
