#include "bench/machine.h"

#include <cstdio>
#include <thread>

#include "absl/strings/str_format.h"

namespace psd::bench {

std::string MachineLine() {
  double load[3] = {-1, -1, -1};
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    if (std::fscanf(f, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3) load[0] = -1;
    std::fclose(f);
  }
  return absl::StrFormat("%u cores, load average %.2f %.2f %.2f",
                         std::thread::hardware_concurrency(), load[0], load[1], load[2]);
}

}  // namespace psd::bench
