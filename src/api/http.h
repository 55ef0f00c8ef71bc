// A request and its response as the API's handlers see them: no sockets, no Beast types, so
// handlers are plain functions that unit tests call directly. The HTTP server (http_server.h)
// turns the wire into these and back.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "api/request_target.h"
#include "common/result.h"

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

// A body sent while it is being made (chunked transfer coding), for answers too large to hold
// in memory: each call returns the next piece, "" once the body is complete. The server calls
// it on the worker pool, one call at a time, and writes each piece before asking for the next
// (a slow client slows the producer down). An error ends the connection without the last
// chunk: the client sees an incomplete body, never a short one that looks whole.
using BodyStream = std::function<Result<std::string>()>;

struct Response {
  Response() = default;

  Response(int status_code, std::string type, std::string content,
           std::vector<std::pair<std::string, std::string>> fields)
      : status(status_code),
        content_type(std::move(type)),
        body(std::move(content)),
        headers(std::move(fields)) {}

  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;  // extra fields (Retry-After, ...)
  BodyStream stream;                                         // when set, the body instead of `body`
};

}  // namespace txmail::api
