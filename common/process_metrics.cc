#include "common/process_metrics.h"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "common/metrics.h"

namespace psd {

absl::StatusOr<ProcessFigures> ReadProcessFigures() {
  std::ifstream stat("/proc/self/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) {
    return absl::UnavailableError("cannot read /proc/self/stat");
  }
  // The command name (field 2) is in parentheses and may hold spaces: fields count from the
  // last ')'. After it: state (3), ... utime (14), stime (15), ... num_threads (20).
  const size_t close = line.rfind(')');
  if (close == std::string::npos) return absl::UnavailableError("malformed /proc/self/stat");
  std::istringstream rest(line.substr(close + 1));
  std::vector<std::string> fields;
  for (std::string f; rest >> f;) fields.push_back(f);
  if (fields.size() < 18) return absl::UnavailableError("short /proc/self/stat");
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  ProcessFigures p;
  p.cpu_seconds = (std::stod(fields[11]) + std::stod(fields[12])) / ticks;  // fields 14, 15
  p.threads = std::stod(fields[17]);                                        // field 20
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  if (!(statm >> size >> resident)) return absl::UnavailableError("cannot read /proc/self/statm");
  p.resident_bytes = static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
  return p;
}

std::shared_ptr<prometheus::Collectable> ProcessMetrics(const std::string& role) {
  return std::make_shared<CallbackCollectable>([role]() {
    std::vector<prometheus::MetricFamily> out;
    absl::StatusOr<ProcessFigures> p = ReadProcessFigures();
    if (!p.ok()) return out;
    const std::map<std::string, std::string> labels = {{"role", role}};
    out.push_back(FamilyBuilder("psd_process_resident_memory_bytes",
                                "Resident memory of the process.", prometheus::MetricType::Gauge)
                      .Add(labels, p->resident_bytes)
                      .Build());
    out.push_back(FamilyBuilder("psd_process_cpu_seconds_total",
                                "CPU time of the process, user and system.",
                                prometheus::MetricType::Counter)
                      .Add(labels, p->cpu_seconds)
                      .Build());
    out.push_back(FamilyBuilder("psd_process_threads", "Threads of the process.",
                                prometheus::MetricType::Gauge)
                      .Add(labels, p->threads)
                      .Build());
    return out;
  });
}

}  // namespace psd
