// The local parts of sender domain administration: `txmail dkim verify` (a message file
// against DNS) and `txmail dns records` (the service's zone, read from the node's config store
// file). `txmail domain ...` and `dkim rotate|import` go through the HTTP API
// (src/cli/domain_commands.h). Exit status: 0 done, 1 failed (the reason on stderr).
#pragma once

#include <string>

#include "app/config.h"

namespace txmail::app {

// Verifies every DKIM-Signature of the message in `file`, keys looked up through DNS.
int dkim_verify(const Config& config, const std::string& file, bool json);
// The service's zone (BIND syntax): SPF include records, delegated DKIM keys, endpoints.
int dns_records(const Config& config);

// The zone text itself (for tests and the API).
Result<std::string> zone_file(const Config& config,
                              const std::vector<tenancy::SenderDomain>& domains,
                              std::int64_t now_ms);

// TXT lookups of every name, through [dns] servers or the system resolver; blocks (runs its own
// event loop): for commands and the worker pool, never an I/O thread.
Result<tenancy::TxtAnswers> lookup_txt(const Config& config, const std::vector<std::string>& names);

}  // namespace txmail::app
