// RocksDB's own log lines, in txmail's log.
#pragma once

#include <rocksdb/env.h>

#include <memory>

namespace txmail::store {

// A RocksDB info log that writes to txmail's log (prefix "rocksdb:") instead of a LOG file in
// the spool's directory. RocksDB's file logger stops the process on the first line after a
// failed write (Debian's librocksdb keeps its assertions): a full disk must not end the node.
// Warnings and errors always; RocksDB's INFO lines only while the log level is debug. One
// logger for every spool of the process.
std::shared_ptr<rocksdb::Logger> make_rocks_logger();

}  // namespace txmail::store
