// What a benchmark reads of another process (a daemon it started): resident memory and CPU.
#ifndef PSD_BENCH_PROCESS_STATS_H_
#define PSD_BENCH_PROCESS_STATS_H_

#include <sys/types.h>

namespace psd::bench {

// VmRSS of `pid` in MB (1e6 bytes), or -1.
double RssMb(pid_t pid);
// User + system CPU seconds `pid` has used (/proc/PID/stat), or -1.
double CpuSeconds(pid_t pid);

}  // namespace psd::bench

#endif  // PSD_BENCH_PROCESS_STATS_H_
