#include "app/kept_messages.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/duration.h"
#include "common/log.h"

namespace txmail::app {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kTsDigits = 13;

// "<13 digits>-<digits>": anything else is not one of ours (and never a path).
bool valid_id(std::string_view id) {
  if (id.size() < kTsDigits + 2 || id.size() > kTsDigits + 21 || id[kTsDigits] != '-') {
    return false;
  }
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return c == '-' || (c >= '0' && c <= '9'); })
         && id.find('-', kTsDigits + 1) == std::string_view::npos;
}

std::string path_of(const std::string& dir, const std::string& id) {
  return dir + "/" + id + ".eml";
}

Result<void> write_new(const std::string& path, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    return make_error(errno == EEXIST ? ErrorCode::kConflict : ErrorCode::kIo,
                      path + ": " + std::strerror(errno));
  }
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      std::string why = path;
      why.append(": ").append(std::strerror(errno));
      ::close(fd);
      ::unlink(path.c_str());
      return make_error(ErrorCode::kIo, why);
    }
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return {};
}

}  // namespace

Result<std::vector<KeptMessage>> list_kept(const std::string& dir) {
  std::vector<KeptMessage> out;
  std::error_code ec;
  if (!fs::exists(dir, ec)) {
    return out;
  }
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const fs::path& p = it->path();
    if (p.extension() != ".eml" || !valid_id(p.stem().string())) {
      continue;  // a file being written ("<id>.tmp") or not ours
    }
    std::error_code size_ec;
    const auto size = fs::file_size(p, size_ec);
    if (size_ec) {
      continue;  // removed meanwhile
    }
    const std::string id = p.stem().string();
    out.push_back(KeptMessage{id, std::stoll(id.substr(0, kTsDigits)), size});
  }
  if (ec) {
    return make_error(ErrorCode::kIo, dir + ": " + ec.message());
  }
  std::sort(out.begin(), out.end(),
            [](const KeptMessage& a, const KeptMessage& b) { return a.id < b.id; });
  return out;
}

Result<std::string> read_kept(const std::string& dir, const std::string& id) {
  if (!valid_id(id)) {
    return make_error(ErrorCode::kNotFound, "no kept message " + id);
  }
  std::ifstream in(path_of(dir, id), std::ios::binary);
  if (!in) {
    return make_error(ErrorCode::kNotFound, "no kept message " + id);
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Result<std::unique_ptr<KeptMessages>> KeptMessages::open(std::string dir, KeptLimits limits) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) {
    return make_error(ErrorCode::kIo, "cannot create '" + dir + "': " + ec.message());
  }
  auto found = list_kept(dir);
  if (!found) {
    return tl::unexpected(found.error());
  }
  std::unique_ptr<KeptMessages> kept(new KeptMessages(std::move(dir), limits));
  for (const auto& m : *found) {
    kept->files_.emplace(m.id, m.bytes);
    kept->bytes_ += m.bytes;
  }
  std::lock_guard lock(kept->mutex_);
  kept->make_room(0);  // the bounds may have shrunk since the last start
  return kept;
}

void KeptMessages::make_room(std::uint64_t incoming) {
  const std::size_t room = incoming > 0 ? 1 : 0;
  while (!files_.empty()
         && (files_.size() + room > limits_.max_count || bytes_ + incoming > limits_.max_bytes)) {
    const auto oldest = files_.begin();
    std::error_code ec;
    fs::remove(path_of(dir_, oldest->first), ec);
    if (ec) {
      logger()->warn("inbound: cannot remove kept message {}: {}", oldest->first, ec.message());
    }
    bytes_ -= oldest->second;
    files_.erase(oldest);
    ++dropped_;
  }
}

Result<std::string> KeptMessages::keep(std::string_view message) {
  message = message.substr(0, limits_.max_bytes);
  std::lock_guard lock(mutex_);
  make_room(std::max<std::uint64_t>(message.size(), 1));
  for (int tries = 0;; ++tries) {
    const std::string id = fmt::format("{:013d}-{:06d}", now_ms(), sequence_++ % 1000000);
    const std::string tmp = dir_ + "/" + id + ".tmp";
    auto written = write_new(tmp, message);
    if (!written && written.error().code == ErrorCode::kConflict && tries < 3) {
      continue;
    }
    if (!written) {
      return tl::unexpected(written.error());
    }
    std::error_code ec;
    fs::rename(tmp, path_of(dir_, id), ec);
    if (ec) {
      fs::remove(tmp, ec);
      return make_error(ErrorCode::kIo, "cannot keep " + id + ": " + ec.message());
    }
    files_.emplace(id, message.size());
    bytes_ += message.size();
    return id;
  }
}

std::size_t KeptMessages::count() const {
  std::lock_guard lock(mutex_);
  return files_.size();
}

std::uint64_t KeptMessages::bytes() const {
  std::lock_guard lock(mutex_);
  return bytes_;
}

std::uint64_t KeptMessages::dropped() const {
  std::lock_guard lock(mutex_);
  return dropped_;
}

}  // namespace txmail::app
