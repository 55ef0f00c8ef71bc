// Sender domains and DKIM keys over the HTTP API (/v2/domains): `txmail domain
// add|list|show|verify` and `txmail dkim rotate|import`. Output is text, or the API's JSON with
// --json (`domain list --json` prints the array of domains). Exit status: 0 done, 1 refused or
// unreachable (the reason on stderr).
#pragma once

#include <string>

#include "cli/api_client.h"

namespace txmail::cli {

struct DomainArgs {
  std::string domain;
  std::string account;  // add: the owner; list: only this account's domains
  std::string key_file;
  bool json = false;
};

int domain_add(const ApiTarget& t, const DomainArgs& args);
int domain_list(const ApiTarget& t, const DomainArgs& args);
int domain_show(const ApiTarget& t, const DomainArgs& args);
int domain_verify(const ApiTarget& t, const DomainArgs& args);
int dkim_rotate(const ApiTarget& t, const DomainArgs& args);
int dkim_import(const ApiTarget& t, const DomainArgs& args);

}  // namespace txmail::cli
