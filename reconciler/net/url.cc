// SPDX-License-Identifier: Apache-2.0
#include "net/url.h"

namespace galley::net {

std::string RedactUrl(const std::string& text) {
  // Up to the last '@' anywhere: a password may hold '/', '?' or '#' unencoded, and masking
  // too much of a message is harmless where too little is not.
  size_t sep = text.find("://");
  size_t start = sep == std::string::npos ? 0 : sep + 3;
  size_t at = text.rfind('@');
  if (at == std::string::npos || at < start) return text;
  return text.substr(0, start) + "***" + text.substr(at);
}

Result<Url> Url::Parse(const std::string& text) {
  // Messages show the URL without its credentials.
  const std::string shown = RedactUrl(text);
  Url u;
  size_t sep = text.find("://");
  if (sep == std::string::npos) return Status::InvalidArgument("not a URL (no scheme): " + shown);
  u.scheme = text.substr(0, sep);
  if (u.scheme != "http" && u.scheme != "https") {
    return Status::InvalidArgument("unsupported URL scheme '" + u.scheme + "' in " + shown);
  }
  size_t host_start = sep + 3;
  size_t path_start = text.find_first_of("/?", host_start);
  std::string authority = text.substr(
      host_start, path_start == std::string::npos ? std::string::npos : path_start - host_start);
  if (authority.find('@') != std::string::npos) {
    return Status::InvalidArgument("credentials in URLs are not supported (use the environment): " +
                                   shown);
  }
  std::string port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string::npos) return Status::InvalidArgument("bad IPv6 address in " + shown);
    u.host = authority.substr(1, close - 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':')
      port_text = authority.substr(close + 2);
  } else {
    size_t colon = authority.rfind(':');
    u.host = authority.substr(0, colon);
    if (colon != std::string::npos) port_text = authority.substr(colon + 1);
  }
  if (u.host.empty()) return Status::InvalidArgument("no host in URL " + shown);
  if (!port_text.empty()) {
    if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
        std::stoi(port_text) < 1 || std::stoi(port_text) > 65535) {
      // A "port" cut from a password (an unencoded '/' in it) is not printed.
      return Status::InvalidArgument(
          (shown == text ? "bad port '" + port_text + "'" : std::string("bad port")) + " in URL " +
          shown);
    }
    u.port = static_cast<uint16_t>(std::stoi(port_text));
  } else {
    u.port = u.scheme == "https" ? 443 : 80;
  }
  u.target = path_start == std::string::npos ? "/" : text.substr(path_start);
  if (u.target[0] == '?') u.target = "/" + u.target;
  return u;
}

std::string Url::Origin() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  return scheme + "://" + h + ":" + std::to_string(port);
}

}  // namespace galley::net
