// GET /openapi.json: the OpenAPI 3.1 document of every endpoint (src/api/openapi.json, compiled
// in). tests/e2e/api_openapi.py checks that it covers every route and that its examples
// validate against their schemas.
#pragma once

#include <string_view>

namespace txmail::api {

std::string_view openapi_document();

}  // namespace txmail::api
