// SPDX-License-Identifier: Apache-2.0
#include "clients/http_support.h"

#include <cctype>

#include "net/http_types.h"

namespace galley::clients::internal {

std::string OneLine(std::string_view s, size_t max) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (std::isspace(static_cast<unsigned char>(c))) {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  if (out.size() > max) {
    // Cut on a character boundary: never half of a UTF-8 sequence.
    size_t n = max;
    while (n > 0 && (static_cast<unsigned char>(out[n]) & 0xC0) == 0x80) --n;
    out.resize(n);
    out += "...";
  }
  return out;
}

Status MakeStatus(StatusCode code, std::string message) {
  switch (code) {
    case StatusCode::kOk:
    case StatusCode::kInternal:
      return Status::Internal(std::move(message));
    case StatusCode::kInvalidArgument:
      return Status::InvalidArgument(std::move(message));
    case StatusCode::kNotFound:
      return Status::NotFound(std::move(message));
    case StatusCode::kAlreadyExists:
      return Status::AlreadyExists(std::move(message));
    case StatusCode::kConflict:
      return Status::Conflict(std::move(message));
    case StatusCode::kUnavailable:
      return Status::Unavailable(std::move(message));
    case StatusCode::kTimeout:
      return Status::Timeout(std::move(message));
    case StatusCode::kPermissionDenied:
      return Status::PermissionDenied(std::move(message));
    case StatusCode::kResourceExhausted:
      return Status::ResourceExhausted(std::move(message));
  }
  return Status::Internal(std::move(message));
}

StatusCode CodeForHttpStatus(int status) {
  if (status == 401 || status == 403) return StatusCode::kPermissionDenied;
  if (status == 404) return StatusCode::kNotFound;
  if (status == 409) return StatusCode::kConflict;
  if (status == 400 || status == 422) return StatusCode::kInvalidArgument;
  if (status == 408 || status == 429 || (status >= 500 && status <= 599)) {
    return StatusCode::kUnavailable;
  }
  return StatusCode::kInternal;
}

std::string StatusLine(int status) {
  std::string reason = net::ReasonPhrase(status);
  if (reason.empty() || reason == "Unknown") return std::to_string(status);
  return std::to_string(status) + " " + reason;
}

std::string ErrorBodySummary(const std::string& body, bool json_message) {
  std::string_view text = body;
  size_t first = text.find_first_not_of(" \t\r\n");
  if (first == std::string_view::npos) return "";
  text.remove_prefix(first);
  if (text[0] == '<') return "";  // an HTML error page (Jetty's 401, a proxy's 502)
  if (json_message && text[0] == '{') {
    nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_object()) {
      auto it = j.find("message");
      if (it != j.end() && it->is_string()) return OneLine(it->get_ref<const std::string&>());
      return OneLine(text);
    }
  }
  return OneLine(text);
}

Result<nlohmann::json> ParseJsonBody(const std::string& body, const std::string& context) {
  try {
    return nlohmann::json::parse(body);
  } catch (const nlohmann::json::parse_error& e) {
    std::string what = e.what();
    // "[json.exception.parse_error.101] parse error at line 1, ..." → "parse error at line 1, ..."
    if (size_t close = what.find("] ");
        what.rfind("[json.exception", 0) == 0 && close != std::string::npos) {
      what = what.substr(close + 2);
    }
    return Status::Unavailable(context + ": invalid JSON in response (byte " +
                               std::to_string(e.byte) + "): " + OneLine(what));
  } catch (const nlohmann::json::exception& e) {
    return Status::Unavailable(context + ": invalid JSON in response: " + OneLine(e.what()));
  }
}

Status SaxParseJsonBody(const std::string& body, const std::string& context,
                        nlohmann::json_sax<nlohmann::json>* handler) {
  bool parsed = false;
  try {
    parsed = nlohmann::json::sax_parse(body, handler);
  } catch (const nlohmann::json::exception&) {
    parsed = false;
  }
  if (parsed) return Status::Ok();
  auto doc = ParseJsonBody(body, context);
  if (!doc.ok()) return doc.status();
  return Status::Unavailable(context + ": invalid JSON in response");
}

std::string TransportDetail(const Status& status, const net::ClientRequest& request) {
  std::string prefix = request.method + " " + request.url + ": ";
  const std::string& m = status.message();
  if (m.rfind(prefix, 0) == 0) return m.substr(prefix.size());
  return m;
}

std::string EncodePath(std::string_view path) {
  return net::PercentEncode(path, /*keep_slash=*/true);
}

}  // namespace galley::clients::internal
