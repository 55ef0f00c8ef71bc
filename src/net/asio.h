// The one place that includes Boost.Asio for txmail: short names, and the completion tokens
// every coroutine uses. Asio is compiled once (BOOST_ASIO_SEPARATE_COMPILATION, asio_impl.cc).
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

namespace txmail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
template <typename T>
using awaitable = asio::awaitable<T>;

// co_await op(net::use_tuple) never throws: errors come back as the tuple's error_code.
inline constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace txmail
