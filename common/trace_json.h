// Writes step timelines as Chrome Trace Event Format JSON (the object form), which Perfetto
// (ui.perfetto.dev) and chrome://tracing open: one process per node, one thread per track,
// complete events ("ph":"X") with ts and dur in microseconds on one reference clock.
#ifndef PSD_COMMON_TRACE_JSON_H_
#define PSD_COMMON_TRACE_JSON_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/trace_recorder.h"

namespace psd {

// What one node recorded, and how its clock relates to the reference clock.
struct TraceNode {
  std::string label;  // "worker 0 (node-3)": the process name
  std::string role;   // "worker", "server"
  int rank = 0;
  std::string node_id;
  int64_t offset_us = 0;           // node clock - reference clock: subtracted from its events
  int64_t error_us = 0;            // the offset's uncertainty
  std::vector<TraceEvent> events;  // on the node's clock
  int64_t dropped = 0;             // events the node dropped beyond its cap
  std::string note;                // "armed from step 12" (empty: nothing to say)
};

// The JSON document: {"traceEvents":[...],"displayTimeUnit":"ms","otherData":{...}}. Nodes
// get pids 1, 2, ... in order; each track a tid, with process_name and thread_name metadata
// events. Events of one track that overlap without nesting (RPCs in flight together) are
// spread over lanes "track #2", "track #3", ... so that each thread's events nest. `metadata`
// goes into otherData as strings, beside each node's clock offset, error, drops and note.
std::string WriteChromeTrace(const std::vector<TraceNode>& nodes,
                             const std::vector<std::pair<std::string, std::string>>& metadata);

// `text` as a JSON string literal, quotes included.
std::string JsonQuote(const std::string& text);

}  // namespace psd

#endif  // PSD_COMMON_TRACE_JSON_H_
