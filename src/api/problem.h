// Errors as RFC 9457 problem details (application/problem+json). Every problem has a stable
// `type` (a relative URI, "/problems/<name>", documented in docs/api.md), and a validation
// problem lists each invalid field by its JSON path ("recipients[2].mail.to[0].email").
#pragma once

#include <string>
#include <vector>

#include "api/http.h"
#include "common/result.h"

namespace txmail::api {

struct FieldError {
  std::string path;
  std::string message;
};

// The type follows from the status (400 invalid-request, 404 not-found, 429 limit-exceeded...).
Response problem(int status, const std::string& title, const std::string& detail);
Response problem(int status, const std::string& type, const std::string& title,
                 const std::string& detail, const std::vector<FieldError>& errors);
// 400 with the invalid fields.
Response invalid(const std::vector<FieldError>& errors);
// The HTTP status an error maps to, and the problem for it.
int status_of(const Error& e);
Response from_error(const Error& e);

}  // namespace txmail::api
