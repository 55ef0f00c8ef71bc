// `txmail messages search` and `txmail report deliveries`: message search and the deliveries
// report (docs/api.md, "Message search") read from the event log's file, as the operator sees
// them (every account, or one with --account). The same code as GET /v2/messages and
// GET /v2/reports/deliveries.csv answers: the same JSON page, the same CSV, the same errors.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace txmail::app {

// (parameter, value) pairs as the API takes them; empty values are left out.
using SearchParams = std::vector<std::pair<std::string, std::string>>;

// Prints the page as the API's JSON; 2 for a bad parameter (the problem on stderr).
int messages_search(const std::string& data_dir, const SearchParams& params);
// Writes the CSV report to stdout, a page at a time.
int report_deliveries(const std::string& data_dir, const SearchParams& params);

}  // namespace txmail::app
