// Administration of sender domains and DKIM keys (issue core-3): `txmail domain
// add|list|show|verify`, `txmail dkim rotate|import|verify` and `txmail dns records`.
//
// These work on the node's config store file directly (the HTTP API that DESIGN.md section 10
// routes administration through is issue core-4); a running node picks the changes up within a
// second (ConfigStore::refresh). Output is text, or JSON with --json. Exit status: 0 done,
// 1 failed (the reason on stderr), 2 bad arguments or config.
#pragma once

#include <string>

#include "app/config.h"

namespace txmail::app {

struct DomainArgs {
  std::string domain;
  std::string account;
  std::string key_file;
  bool json = false;
};

int domain_add(const Config& config, const DomainArgs& args);
int domain_list(const Config& config, const DomainArgs& args);
int domain_show(const Config& config, const DomainArgs& args);
int domain_verify(const Config& config, const DomainArgs& args);
int dkim_rotate(const Config& config, const DomainArgs& args);
int dkim_import(const Config& config, const DomainArgs& args);
// Verifies every DKIM-Signature of the message in `file`, keys looked up through DNS.
int dkim_verify(const Config& config, const std::string& file, bool json);
// The service's zone (BIND syntax): SPF include records, delegated DKIM keys, endpoints.
int dns_records(const Config& config);

// The zone text itself (for tests and the API).
Result<std::string> zone_file(const Config& config, const std::vector<tenancy::SenderDomain>& domains,
                              std::int64_t now_ms);

// TXT lookups of every name, through [dns] servers or the system resolver; blocks (runs its own
// event loop): for commands and the worker pool, never an I/O thread.
Result<tenancy::TxtAnswers> lookup_txt(const Config& config, const std::vector<std::string>& names);

}  // namespace txmail::app
