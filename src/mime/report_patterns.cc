// The bounces that follow no standard (issue bounce-1, item 3): one entry per form, each with an
// example message under tests/reports/ that report_test.cc reads. A new form gets its markers
// (text every such bounce carries), an extractor, and an example.
#include <string>
#include <string_view>
#include <vector>

#include "mime/entity.h"
#include "mime/report.h"

namespace txmail::mime {

namespace {

// The text's lines (LF breaks), each without trailing spaces.
std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t end = text.find('\n', pos);
    end = end == std::string_view::npos ? text.size() : end;
    std::string_view line = text.substr(pos, end - pos);
    while (!line.empty() && (line.back() == ' ' || line.back() == '\t')) {
      line.remove_suffix(1);
    }
    out.push_back(line);
    pos = end + 1;
  }
  return out;
}

RecipientReport recipient(std::string_view address) {
  RecipientReport r;
  r.recipient = std::string(address);
  return r;
}

bool looks_like_address(std::string_view s) {
  const std::size_t at = s.find('@');
  return at != std::string_view::npos && at > 0 && at + 1 < s.size()
         && s.find_first_of(" \t<>") == std::string_view::npos;
}

void append_reason(RecipientReport& r, std::string_view line) {
  if (!r.diagnostic.empty()) {
    r.diagnostic.push_back(' ');
  }
  r.diagnostic.append(trim(line));
}

// "<addr>:" on a line of its own, then the reason on the lines up to a blank one; up to a line
// starting with "---" (the returned copy). qmail's form and its many imitations.
std::vector<RecipientReport> angle_blocks(std::string_view text) {
  std::vector<RecipientReport> out;
  RecipientReport* current = nullptr;
  for (const auto line : lines_of(text)) {
    if (line.starts_with("---")) {
      break;
    }
    if (line.size() > 3 && line.front() == '<' && line.ends_with(">:")
        && looks_like_address(line.substr(1, line.size() - 3))) {
      out.push_back(recipient(line.substr(1, line.size() - 3)));
      current = &out.back();
    } else if (trim(line).empty()) {
      current = nullptr;
    } else if (current != nullptr) {
      append_reason(*current, line);
    }
  }
  return out;
}

// Exim: after "...the following address(es) failed:", each address indented by two spaces and
// its reason by four, up to the "------ This is a copy" line.
std::vector<RecipientReport> exim_list(std::string_view text) {
  std::vector<RecipientReport> out;
  bool listing = false;
  RecipientReport* current = nullptr;
  for (const auto line : lines_of(text)) {
    if (!listing) {
      listing = line.find("address(es) failed:") != std::string_view::npos;
      continue;
    }
    if (line.starts_with("------")) {
      break;
    }
    if (line.starts_with("    ") && current != nullptr) {
      append_reason(*current, line);
    } else if (line.starts_with("  ") && looks_like_address(trim(line))) {
      out.push_back(recipient(trim(line)));
      current = &out.back();
    } else if (trim(line).empty()) {
      continue;
    } else {
      current = nullptr;
    }
  }
  return out;
}

}  // namespace

const std::vector<BouncePattern>& bounce_patterns() {
  static const std::vector<BouncePattern> kTable = {
      // tests/reports/qmail.eml
      {"qmail",
       {"This is the qmail-send program", "wasn't able to deliver your message"},
       &angle_blocks},
      // tests/reports/exim.eml
      {"exim",
       {"created automatically by mail delivery software", "address(es) failed:"},
       &exim_list},
      // tests/reports/remote-host-said.eml (Yahoo's older form, and others alike)
      {"remote-host-said",
       {"unable to deliver your message to the following address", "Remote host said:"},
       &angle_blocks},
  };
  return kTable;
}

}  // namespace txmail::mime
