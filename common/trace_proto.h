// Step-timeline events between common/trace_recorder.h and the wire (TimelineEvent).
#ifndef PSD_COMMON_TRACE_PROTO_H_
#define PSD_COMMON_TRACE_PROTO_H_

#include <vector>

#include "common/trace_recorder.h"
#include "google/protobuf/repeated_field.h"
#include "proto/common.pb.h"

namespace psd {

void ToProto(const TraceEvent& event, TimelineEvent* out);
TraceEvent FromProto(const TimelineEvent& event);
std::vector<TraceEvent> FromProto(const google::protobuf::RepeatedPtrField<TimelineEvent>& events);

}  // namespace psd

#endif  // PSD_COMMON_TRACE_PROTO_H_
