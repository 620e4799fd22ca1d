#include "common/process_init.h"

#include <cstdlib>

#include "absl/synchronization/mutex.h"
#include "common/buffer_pool.h"

namespace psd {
namespace {

void MaybeDisableDeadlockDetection() {
  const char* force = std::getenv("PSD_MUTEX_DEADLOCK_DETECTION");
  if (force != nullptr && force[0] == '1') return;
  if (std::getenv("TEST_SRCDIR") != nullptr) return;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

}  // namespace

void InitProcess() {
  KeepFreedMemory();
  MaybeDisableDeadlockDetection();
}

}  // namespace psd
