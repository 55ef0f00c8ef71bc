// `txmail serve`: opens the stores, recovers the spool, starts the listeners and runs until
// SIGTERM or SIGINT, then stops gracefully (DESIGN.md section 7).
#pragma once

#include "app/config.h"

namespace txmail::app {

int serve(const Config& config);

}  // namespace txmail::app
