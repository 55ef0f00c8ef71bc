#include "api/problem.h"

#include <boost/json.hpp>

#include "common/ids.h"

namespace txmail::api {

namespace json = boost::json;

namespace {

const char* type_of(int status) {
  switch (status) {
    case 400:
      return "/problems/invalid-request";
    case 401:
      return "/problems/unauthorized";
    case 403:
      return "/problems/forbidden";
    case 404:
      return "/problems/not-found";
    case 405:
      return "/problems/method-not-allowed";
    case 409:
      return "/problems/conflict";
    case 413:
      return "/problems/too-large";
    case 415:
      return "/problems/unsupported-media-type";
    case 422:
      return "/problems/unprocessable";
    case 429:
      return "/problems/limit-exceeded";
    case 503:
      return "/problems/unavailable";
    default:
      return "/problems/internal";
  }
}

const char* title_of(int status) {
  switch (status) {
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 409:
      return "Conflict";
    case 413:
      return "Content Too Large";
    case 422:
      return "Unprocessable Content";
    case 429:
      return "Too Many Requests";
    case 503:
      return "Service Unavailable";
    default:
      return "Internal Server Error";
  }
}

}  // namespace

Response problem(int status, const std::string& type, const std::string& title,
                 const std::string& detail, const std::vector<FieldError>& errors) {
  json::object o{{"type", type}, {"title", title}, {"status", status}, {"detail", detail}};
  if (status == 429) {
    o["code"] = "LIMIT_EXCEEDED";
  }
  if (!errors.empty()) {
    json::array list;
    for (const auto& e : errors) {
      list.push_back(json::object{{"path", e.path}, {"message", e.message}});
    }
    o["errors"] = std::move(list);
  }
  return Response{status, "application/problem+json", json::serialize(o), {}};
}

Response problem(int status, const std::string& title, const std::string& detail) {
  return problem(status, type_of(status), title, detail, {});
}

Response invalid(const std::vector<FieldError>& errors) {
  std::string detail = errors.empty() ? "the request is invalid"
                                      : errors.front().path + ": " + errors.front().message;
  if (errors.size() > 1) {
    detail += " (and " + std::to_string(errors.size() - 1) + " more)";
  }
  return problem(400, "/problems/validation-error", "Bad Request", detail, errors);
}

int status_of(const Error& e) {
  switch (e.code) {
    case ErrorCode::kNotFound:
      return 404;
    case ErrorCode::kConflict:
      return 409;
    case ErrorCode::kInvalidArgument:
      return 400;
    case ErrorCode::kTooLarge:
      return 413;
    case ErrorCode::kPermission:
    case ErrorCode::kAuthFailed:
      return 403;
    case ErrorCode::kDnsTemporary:
    case ErrorCode::kNetwork:
    case ErrorCode::kTimeout:
    case ErrorCode::kUnavailable:
      return 503;
    case ErrorCode::kInternal:
    case ErrorCode::kConfig:
    case ErrorCode::kIo:
    case ErrorCode::kCorrupt:
      return 500;
  }
  return 500;
}

Response from_error(const Error& e) {
  const int status = status_of(e);
  return problem(status, title_of(status), e.detail);
}

}  // namespace txmail::api
