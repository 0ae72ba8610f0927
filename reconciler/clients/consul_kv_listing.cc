// SPDX-License-Identifier: Apache-2.0
#include "clients/consul_kv_listing.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <utility>

#include <nlohmann/json.hpp>

#include "base/base64.h"
#include "base/strings.h"
#include "clients/http_support.h"

namespace galley::clients::internal {
namespace {

using Json = nlohmann::json;

// SAX events of the listing. Depth 0 is the array, 1 an entry, 2 an entry's member value;
// anything deeper is skipped. The first semantic problem is kept and parsing goes on, so
// that invalid JSON anywhere is reported first (as a document parse would).
class KvListingHandler final : public nlohmann::json_sax<Json> {
 public:
  explicit KvListingHandler(std::vector<model::LiveKvEntry>* out) : out_(out) {}

  bool null() override { return Scalar(Kind::kNull); }
  bool boolean(bool) override { return Scalar(Kind::kOther); }
  bool number_integer(number_integer_t v) override {
    if (Member()) Number(static_cast<uint64_t>(std::max<int64_t>(0, v)));
    return Scalar(Kind::kInteger);
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (Member()) Number(v);
    return Scalar(Kind::kInteger);
  }
  bool number_float(number_float_t, const string_t&) override { return Scalar(Kind::kOther); }
  bool string(string_t& v) override {
    if (Member()) {
      if (member_ == Field::kKey) {
        key_ = std::move(v);
      } else if (member_ == Field::kSession) {
        session_ = std::move(v);
      } else if (member_ == Field::kValue) {
        value_ = std::move(v);
        value_kind_ = Kind::kString;
      }
    }
    return Scalar(Kind::kString);
  }
  bool binary(binary_t&) override { return Scalar(Kind::kOther); }

  bool start_object(std::size_t) override {
    if (depth_ == 0) not_array_ = true;
    if (depth_ == 1) StartEntry(/*object=*/true);
    if (Member()) Composite();
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 2) {
      member_ = k == "Key"           ? Field::kKey
                : k == "Value"       ? Field::kValue
                : k == "Flags"       ? Field::kFlags
                : k == "ModifyIndex" ? Field::kModifyIndex
                : k == "Session"     ? Field::kSession
                                     : Field::kOther;
    }
    return true;
  }
  bool end_object() override {
    --depth_;
    if (depth_ == 1) EndEntry();
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 1) StartEntry(/*object=*/false);
    if (Member()) Composite();
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    if (depth_ == 1) EndEntry();
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  bool not_array() const { return not_array_; }
  // The first entry's problem, in listing order: "an entry has no Key", "Value of key ...".
  const std::optional<std::string>& problem() const { return problem_; }

 private:
  enum class Field { kNone, kKey, kValue, kFlags, kModifyIndex, kSession, kOther };
  enum class Kind { kAbsent, kNull, kString, kInteger, kOther };

  // A scalar member value of an entry (depth 2), or a scalar where an entry or the array
  // belongs.
  bool Scalar(Kind kind) {
    if (depth_ == 0) not_array_ = true;
    if (depth_ == 1) {
      StartEntry(/*object=*/false);
      EndEntry();
    }
    if (Member()) {
      if (member_ == Field::kValue && kind != Kind::kString) value_kind_ = kind;
      // null / a non-string Key or Session: absent, as a lookup of a string member reads it.
      if (member_ == Field::kKey && kind != Kind::kString) key_.clear();
      if (member_ == Field::kSession && kind != Kind::kString) session_.clear();
      if ((member_ == Field::kFlags || member_ == Field::kModifyIndex) && kind != Kind::kInteger)
        Number(0);
    }
    return true;
  }
  // An object or array as an entry member's value.
  void Composite() {
    if (member_ == Field::kValue) value_kind_ = Kind::kOther;
    if (member_ == Field::kKey) key_.clear();
    if (member_ == Field::kSession) session_.clear();
    if (member_ == Field::kFlags || member_ == Field::kModifyIndex) Number(0);
  }
  bool Member() const { return depth_ == 2 && in_entry_; }
  void Number(uint64_t v) {
    if (member_ == Field::kFlags) flags_ = v;
    if (member_ == Field::kModifyIndex) modify_index_ = v;
  }
  void StartEntry(bool object) {
    in_entry_ = object;
    member_ = Field::kNone;
    key_.clear();
    session_.clear();
    value_.clear();
    value_kind_ = Kind::kAbsent;
    flags_ = modify_index_ = 0;
  }
  void EndEntry() {
    bool was_object = in_entry_;
    in_entry_ = false;
    if (problem_ || not_array_) return;
    if (!was_object || key_.empty()) {
      problem_ = "an entry has no Key";
      return;
    }
    model::LiveKvEntry e;
    e.key = std::move(key_);
    e.modify_index = modify_index_;
    e.flags = flags_;
    e.session = std::move(session_);
    if (value_kind_ != Kind::kAbsent && value_kind_ != Kind::kNull &&
        value_kind_ != Kind::kString) {
      problem_ = "Value of key " + Quote(e.key) + " is not a string";
      return;
    }
    if (value_kind_ == Kind::kString) {
      // Padding optional: some proxies re-encode Consul's answers without '='.
      auto decoded = Base64Decode(value_, Base64Strictness::kPaddingOptional);
      if (!decoded.ok()) {
        problem_ = "Value of key " + Quote(e.key) + " is not base64";
        return;
      }
      e.value = std::move(*decoded);
    }
    out_->push_back(std::move(e));
  }

  std::vector<model::LiveKvEntry>* out_;
  int depth_ = 0;
  bool not_array_ = false;
  bool in_entry_ = false;
  Field member_ = Field::kNone;
  std::string key_, session_, value_;
  Kind value_kind_ = Kind::kAbsent;
  uint64_t flags_ = 0, modify_index_ = 0;
  std::optional<std::string> problem_;
};

}  // namespace

Result<std::vector<model::LiveKvEntry>> ParseKvListing(const std::string& body,
                                                       const std::string& context) {
  std::vector<model::LiveKvEntry> out;
  KvListingHandler handler(&out);
  RETURN_IF_ERROR(SaxParseJsonBody(body, context, &handler));
  if (handler.not_array()) {
    return Status::Unavailable(context + ": unexpected response: not a JSON array");
  }
  if (handler.problem()) {
    return Status::Unavailable(context + ": unexpected response: " + *handler.problem());
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.key < b.key; });
  return out;
}

}  // namespace galley::clients::internal
