// SPDX-License-Identifier: Apache-2.0
// Internal helpers shared by the Marathon and Consul clients (not part of clients/' public
// interface): JSON bodies parsed into Status errors that name the endpoint, HTTP
// status → StatusCode mapping, and error-body summaries. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"
#include "net/http_client.h"

namespace galley::clients::internal {

// A Status with an explicit code (Status's constructor is private).
Status MakeStatus(StatusCode code, std::string message);

// The code galley reports for a non-2xx HTTP status: 401/403 kPermissionDenied, 404
// kNotFound, 409 kConflict, 400/422 kInvalidArgument, 408/429/5xx kUnavailable, else kInternal.
StatusCode CodeForHttpStatus(int status);

// "503 Service Unavailable".
std::string StatusLine(int status);

// `s` with whitespace runs (newlines included) collapsed into single spaces, trimmed, and cut
// at `max` characters ("..." marks a cut).
std::string OneLine(std::string_view s, size_t max = 300);

// A one-line summary of an error body: Marathon's {"message": ...} (json_message), or the
// plain text Consul sends; HTML pages and empty bodies give "". At most ~300 characters.
std::string ErrorBodySummary(const std::string& body, bool json_message);

// Parses a response body; on failure kUnavailable "<context>: invalid JSON in response
// (byte N): <parser message>". Never throws.
Result<nlohmann::json> ParseJsonBody(const std::string& body, const std::string& context);
// Feeds a response body to a SAX handler (a listing read without a document); invalid JSON
// fails with ParseJsonBody's message (the same first error). Never throws.
Status SaxParseJsonBody(const std::string& body, const std::string& context,
                        nlohmann::json_sax<nlohmann::json>* handler);

// The transport error's text without the "<METHOD> <url>: " prefix net::HttpClient adds
// (the caller's context already says which request it was).
std::string TransportDetail(const Status& status, const net::ClientRequest& request);

// Sets request.idempotent = true when net::ClientRequest has that field (the retrying
// decorator in net/ may add it); a no-op otherwise.
template <typename Request>
void MarkIdempotent(Request& request) {
  if constexpr (requires { request.idempotent = true; }) request.idempotent = true;
}

// Percent-encodes every segment of a '/'-separated path, keeping the slashes.
std::string EncodePath(std::string_view path);

}  // namespace galley::clients::internal
