// Process-wide settings for psd's binaries, made once at the start of main().
#ifndef PSD_COMMON_PROCESS_INIT_H_
#define PSD_COMMON_PROCESS_INIT_H_

namespace psd {

// Call first thing in main(), before gRPC or anything else starts threads: keeps freed memory
// in the process (KeepFreedMemory in common/buffer_pool.h; PSD_KEEP_FREED_MEMORY=0 turns it
// off) and turns off absl::Mutex's deadlock detector, which Debian's Abseil runs on every
// lock (~7% of the CPU per byte pushed and pulled), except under `bazel test` (TEST_SRCDIR
// set) or with PSD_MUTEX_DEADLOCK_DETECTION=1.
void InitProcess();

}  // namespace psd

#endif  // PSD_COMMON_PROCESS_INIT_H_
