// What a benchmark prints about the machine it ran on, so that figures from a busy machine are
// read as such.
#ifndef PSD_BENCH_MACHINE_H_
#define PSD_BENCH_MACHINE_H_

#include <string>

namespace psd::bench {

// "2 cores, load average 9.10 8.70 5.20" (the load average is -1 where /proc/loadavg is missing).
std::string MachineLine();

}  // namespace psd::bench

#endif  // PSD_BENCH_MACHINE_H_
