#include "bench/process_stats.h"

#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace psd::bench {

double RssMb(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, "VmRSS:")) {
      int64_t kb = 0;
      std::string v(absl::StripAsciiWhitespace(absl::StripSuffix(line.substr(6), "kB")));
      if (absl::SimpleAtoi(absl::StripAsciiWhitespace(v), &kb)) return kb * 1024 / 1e6;
    }
  }
  return -1;
}

double CpuSeconds(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces: the fields that follow start after its ')'.
  const size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  std::istringstream rest(text.substr(paren + 2));
  std::string field;
  int64_t utime = -1, stime = -1;
  for (int i = 3; rest >> field; ++i) {
    if (i == 14 && !absl::SimpleAtoi(field, &utime)) return -1;
    if (i == 15) {
      if (!absl::SimpleAtoi(field, &stime)) return -1;
      break;
    }
  }
  if (utime < 0 || stime < 0) return -1;
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

}  // namespace psd::bench
