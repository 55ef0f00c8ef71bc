// A request and its response as the API's handlers see them: no sockets, no Beast types, so
// handlers are plain functions that unit tests call directly. The HTTP server (http_server.h)
// turns the wire into these and back.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/request_target.h"

namespace txmail::api {

struct Request {
  std::string method;
  std::string path;   // percent-decoded, without the query string
  std::string query;  // the raw query string, without '?'
  std::string body;
  // Header fields, names in lower case, in the order received.
  std::vector<std::pair<std::string, std::string>> headers;
  std::string remote_ip;
  bool tls = false;
  // Set by authentication: the account; empty for the operator (admin token).
  std::string account;

  // The first field of that (lower-case) name, or "".
  std::string header(std::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) {
        return v;
      }
    }
    return {};
  }
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields (Retry-After, ...)
};

}  // namespace txmail::api
