#include "app/readiness.h"

#include <fcntl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/log.h"

namespace txmail::app {

std::optional<std::string> Readiness::reason() const {
  if (draining_.load()) {
    return "draining";
  }
  {
    std::lock_guard lock(mutex_);
    if (disk_) {
      return disk_;
    }
  }
  if (s_.spool_accepting && !s_.spool_accepting()) {
    return "the spool refuses new messages (disk full)";
  }
  if (s_.cluster_reason) {
    return s_.cluster_reason();
  }
  return std::nullopt;
}

std::optional<std::string> Readiness::intake_refusal() const {
  if (draining_.load()) {
    return "draining";
  }
  return s_.cluster_reason ? s_.cluster_reason() : std::nullopt;
}

void Readiness::set_draining(bool draining) {
  if (draining_.exchange(draining) != draining) {
    logger()->warn("{}", draining ? "draining: intake stopped, deliveries go on (txmail drain)"
                                  : "drain ended: taking traffic again");
  }
}

void Readiness::probe_disk() {
  std::optional<std::string> why;

  struct statvfs fs {};

  if (::statvfs(s_.data_dir.c_str(), &fs) != 0) {
    why = "the data directory cannot be read: " + std::string(std::strerror(errno));
  } else if ((fs.f_flag & ST_RDONLY) != 0) {
    why = "the data directory's file system is read-only";
  } else if (const std::uint64_t free = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
             free < s_.min_free_space) {
    why = "the data directory's disk is nearly full (" + std::to_string(free >> 20)
          + " MiB free, node.min_free_space is " + std::to_string(s_.min_free_space >> 20)
          + " MiB)";
  } else {
    // A write proves more than the flags: permissions, a full inode table, an I/O error.
    const std::string probe = s_.data_dir + "/.ready-probe";
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0 || ::write(fd, "ok\n", 3) != 3) {
      why = "the data directory is not writable: " + std::string(std::strerror(errno));
    }
    if (fd >= 0) {
      ::close(fd);
      ::unlink(probe.c_str());
    }
  }
  std::lock_guard lock(mutex_);
  if (why != disk_) {
    if (why) {
      logger()->error("not ready: {}", *why);
    } else {
      logger()->info("the data directory takes data again");
    }
    disk_ = std::move(why);
  }
}

}  // namespace txmail::app
