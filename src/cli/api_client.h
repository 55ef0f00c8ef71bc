// The administration commands' HTTP client (DESIGN.md section 10: commands talk to the HTTP
// API). Blocking, one request per connection: for the command line, never the server.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/result.h"

namespace txmail::cli {

struct ApiTarget {
  std::string url = "http://127.0.0.1:8080";  // --api
  std::string token;                          // --token / TXMAIL_TOKEN: the admin token
  std::string api_key;                        // --api-key / TXMAIL_API_KEY: an account's key
  std::string account;                        // X-Txmail-Account with the admin token
};

struct ApiReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

// kNetwork when the API cannot be reached, kInvalidArgument for a bad URL; any HTTP status is
// a reply.
Result<ApiReply> call(const ApiTarget& target, const std::string& method, const std::string& path,
                      const std::string& body = "",
                      const std::vector<std::pair<std::string, std::string>>& headers = {});

// call(), with a failure (unreachable, or a status of 300 or more) told on stderr: nullopt then.
std::optional<ApiReply> call_or_report(const ApiTarget& target, const std::string& method,
                                       const std::string& path, const std::string& body = "");

// One line for a failed reply: "403 Forbidden: this endpoint needs the admin token", plus the
// invalid fields of a validation problem.
std::string describe_failure(const ApiReply& reply);

}  // namespace txmail::cli
