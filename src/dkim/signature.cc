#include "dkim/signature.h"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <map>

#include "common/base64.h"

namespace txmail::dkim {

namespace {

bool is_fws(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_fws(s.front())) {
    s.remove_prefix(1);
  }
  while (!s.empty() && is_fws(s.back())) {
    s.remove_suffix(1);
  }
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) {
    return static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  });
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && lower(a) == lower(b);
}

// base64 folded into lines of 72 characters with CRLF TAB (folding white space).
std::string folded_base64(std::string_view bytes) {
  const std::string text = base64_encode(bytes);
  std::string out;
  for (std::size_t i = 0; i < text.size(); i += 72) {
    if (i > 0) {
      out.append("\r\n\t");
    }
    out.append(text, i, 72);
  }
  return out;
}

// "from:to:subject", folded after a colon where a line would pass 76 characters.
std::string folded_names(const std::vector<std::string>& names, std::size_t column) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) {
      out.push_back(':');
      ++column;
      if (column + names[i].size() > 76) {
        out.append("\r\n\t");
        column = 1;
      }
    }
    out.append(names[i]);
    column += names[i].size();
  }
  return out;
}

// The raw DKIM-Signature field with its b= value (and the white space around it) removed and
// without its final CRLF: what the signature covers of itself.
std::optional<std::string> without_b_value(std::string_view raw) {
  std::string_view field = raw;
  if (field.ends_with("\r\n")) {
    field.remove_suffix(2);
  }
  const std::size_t colon = field.find(':');
  const auto tags = parse_tags(field.substr(colon + 1));
  if (!tags) {
    return std::nullopt;
  }
  for (const auto& t : *tags) {
    if (t.name == "b") {
      const std::size_t eq =
          field.find('=', static_cast<std::size_t>(t.name.data() - field.data()));
      std::size_t end = field.find(';', eq);
      if (end == std::string_view::npos) {
        end = field.size();
      }
      std::string out(field.substr(0, eq + 1));
      out.append(field.substr(end));
      return out;
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::vector<Tag>> parse_tags(std::string_view text) {
  std::vector<Tag> tags;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    std::size_t semi = text.find(';', pos);
    if (semi == std::string_view::npos) {
      semi = text.size();
    }
    const std::string_view spec = text.substr(pos, semi - pos);
    pos = semi + 1;
    if (trim(spec).empty()) {
      if (semi == text.size()) {
        break;
      }
      continue;  // "a=b;;" and a final ";" are allowed
    }
    const std::size_t eq = spec.find('=');
    if (eq == std::string_view::npos) {
      return std::nullopt;
    }
    const std::string_view name = trim(spec.substr(0, eq));
    if (name.empty()) {
      return std::nullopt;
    }
    for (const auto& t : tags) {
      if (t.name == name) {
        return std::nullopt;  // a duplicate tag makes the whole list invalid (section 3.2)
      }
    }
    tags.push_back(Tag{name, trim(spec.substr(eq + 1))});
  }
  return tags;
}

std::optional<std::string_view> tag(const std::vector<Tag>& tags, std::string_view name) {
  for (const auto& t : tags) {
    if (t.name == name) {
      return t.value;
    }
  }
  return std::nullopt;
}

std::string strip_whitespace(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (!is_fws(c)) {
      out.push_back(c);
    }
  }
  return out;
}

const std::vector<std::string_view>& default_signed_headers() {
  static const std::vector<std::string_view> kNames = {"from",
                                                       "to",
                                                       "cc",
                                                       "subject",
                                                       "date",
                                                       "message-id",
                                                       "reply-to",
                                                       "in-reply-to",
                                                       "references",
                                                       "mime-version",
                                                       "content-type",
                                                       "content-transfer-encoding",
                                                       "list-unsubscribe",
                                                       "list-unsubscribe-post"};
  return kNames;
}

std::string signed_data(std::string_view headers, const std::vector<std::string>& names,
                        Canon canon, std::string_view signature_field_without_b) {
  const auto fields = header_fields(headers);
  // For each name, its instances from the bottom up (section 5.4.2).
  std::map<std::string, std::vector<std::string_view>> by_name;
  for (const auto& f : fields) {
    by_name[lower(f.name)].push_back(f.raw);
  }
  std::string data;
  data.reserve(headers.size() + signature_field_without_b.size());
  for (const auto& name : names) {
    auto it = by_name.find(lower(name));
    if (it == by_name.end() || it->second.empty()) {
      continue;  // a name with no instance left signs nothing: later additions break it
    }
    canonicalize_header(canon, it->second.back(), data);
    it->second.pop_back();
  }
  canonicalize_header(canon, signature_field_without_b, data);
  data.resize(data.size() - 2);  // the signature field is hashed without its CRLF
  return data;
}

Result<std::string> sign(std::string_view message, const std::vector<SigningKey>& keys,
                         const SignOptions& options) {
  const auto parts = split_message(message);
  const auto fields = header_fields(parts.headers);
  std::vector<std::string> names;
  for (const auto name : default_signed_headers()) {
    std::size_t count = 0;
    for (const auto& f : fields) {
      count += iequals(f.name, name) ? 1 : 0;
    }
    if (name == "from") {
      ++count;
    }
    names.insert(names.end(), count, std::string(name));
  }
  const Digest bh = body_hash(options.body, parts.body);
  const std::string bh64 =
      base64_encode(std::string_view(reinterpret_cast<const char*>(bh.data()), bh.size()));
  const std::int64_t t = options.timestamp != 0
                             ? options.timestamp
                             : std::chrono::duration_cast<std::chrono::seconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count();
  std::string out;
  for (const auto& k : keys) {
    std::string field = fmt::format("DKIM-Signature: v=1; a={}; c={}/{}; d={}; s={};\r\n\tt={}; h=",
                                    algorithm_name(k.key.algorithm()), canon_name(options.header),
                                    canon_name(options.body), k.domain, k.selector, t);
    field.append(folded_names(names, 1 + fmt::formatted_size("t={}; h=", t)));
    field.append(";\r\n\tbh=").append(bh64).append(";\r\n\tb=");
    const std::string data = signed_data(parts.headers, names, options.header, field);
    auto signature = k.key.sign(data);
    if (!signature) {
      return tl::unexpected(signature.error());
    }
    out.append(field).append(folded_base64(*signature)).append("\r\n");
  }
  return out;
}

// NOLINTNEXTLINE(readability-function-size): over 80 lines; to be split
std::vector<SignatureCheck> verify(std::string_view message, const KeyLookup& lookup) {
  std::vector<SignatureCheck> verdicts;
  const auto parts = split_message(message);
  for (const auto& field : header_fields(parts.headers)) {
    if (!iequals(field.name, "DKIM-Signature")) {
      continue;
    }
    SignatureCheck v;
    auto fail = [&](std::string why) {
      v.reason = std::move(why);
      verdicts.push_back(v);
    };
    std::string_view value = field.raw.substr(field.raw.find(':') + 1);
    const auto tags = parse_tags(value);
    if (!tags) {
      fail("malformed tag list");
      continue;
    }
    v.domain = std::string(tag(*tags, "d").value_or(""));
    v.selector = std::string(tag(*tags, "s").value_or(""));
    v.algorithm = std::string(tag(*tags, "a").value_or(""));
    const auto h = tag(*tags, "h");
    const auto bh = tag(*tags, "bh");
    const auto b = tag(*tags, "b");
    if (tag(*tags, "v").value_or("") != "1" || v.domain.empty() || v.selector.empty() || !h || !bh
        || !b) {
      fail("missing or bad v=, d=, s=, h=, bh= or b=");
      continue;
    }
    Algorithm algorithm{};
    if (!parse_algorithm(v.algorithm, algorithm)) {
      fail("unsupported algorithm " + v.algorithm);
      continue;
    }
    Canon header_canon = Canon::kSimple;
    Canon body_canon = Canon::kSimple;
    const std::string c = strip_whitespace(tag(*tags, "c").value_or("simple/simple"));
    const std::size_t slash = c.find('/');
    if (!parse_canon(c.substr(0, slash), header_canon)
        || (slash != std::string::npos && !parse_canon(c.substr(slash + 1), body_canon))) {
      fail("bad c=");
      continue;
    }
    std::vector<std::string> names;
    const std::string h_list = strip_whitespace(*h);
    bool signs_from = false;
    for (std::size_t pos = 0; pos <= h_list.size();) {
      std::size_t colon = h_list.find(':', pos);
      if (colon == std::string::npos) {
        colon = h_list.size();
      }
      names.push_back(h_list.substr(pos, colon - pos));
      signs_from = signs_from || iequals(names.back(), "from");
      pos = colon + 1;
    }
    if (!signs_from) {
      fail("h= does not sign From");
      continue;
    }
    std::string body_expected;
    if (!base64_decode(strip_whitespace(*bh), body_expected)) {
      fail("bad bh=");
      continue;
    }
    Digest digest{};
    if (const auto l = tag(*tags, "l")) {
      std::string canonical = canonicalize_body(body_canon, parts.body);
      const std::size_t length = std::strtoull(std::string(*l).c_str(), nullptr, 10);
      if (length > canonical.size()) {
        fail("l= is longer than the body");
        continue;
      }
      canonical.resize(length);
      unsigned int n = 0;
      EVP_Digest(canonical.data(), canonical.size(), digest.data(), &n, EVP_sha256(), nullptr);
    } else {
      digest = body_hash(body_canon, parts.body);
    }
    if (body_expected
        != std::string_view(reinterpret_cast<const char*>(digest.data()), digest.size())) {
      fail("body hash mismatch");
      continue;
    }
    const std::string record = lookup(v.selector + "._domainkey." + v.domain);
    const auto key_tags = parse_tags(record);
    if (record.empty() || !key_tags) {
      fail("no key record");
      continue;
    }
    std::string p;
    if (!base64_decode(strip_whitespace(tag(*key_tags, "p").value_or("")), p) || p.empty()) {
      fail("key record has no usable p= (revoked?)");
      continue;
    }
    auto key = PublicKey::from_record(tag(*key_tags, "k").value_or("rsa"), p);
    if (!key || key->algorithm() != algorithm) {
      fail("key record does not fit a=");
      continue;
    }
    const auto stripped = without_b_value(field.raw);
    std::string signature;
    if (!stripped || !base64_decode(strip_whitespace(*b), signature)) {
      fail("bad b=");
      continue;
    }
    const std::string data = signed_data(parts.headers, names, header_canon, *stripped);
    if (!key->verify(data, signature)) {
      fail("signature does not verify");
      continue;
    }
    v.ok = true;
    verdicts.push_back(v);
  }
  return verdicts;
}

}  // namespace txmail::dkim
