// The web console's own files (coordinator/console/: index.html, console.js, console.css),
// compiled into the coordinator by the console_assets genrule, so that it needs no files at run
// time for them. uPlot is not among them: the install step fetches it (coordinator/console_http.h).
#ifndef PSD_COORDINATOR_CONSOLE_ASSETS_H_
#define PSD_COORDINATOR_CONSOLE_ASSETS_H_

#include "absl/strings/string_view.h"

namespace psd {

struct ConsoleAsset {
  absl::string_view name;  // "index.html"
  absl::string_view content;
};

// Every embedded file; ends with an entry whose name is empty.
extern const ConsoleAsset kConsoleAssets[];

}  // namespace psd

#endif  // PSD_COORDINATOR_CONSOLE_ASSETS_H_
