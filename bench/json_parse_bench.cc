// SPDX-License-Identifier: Apache-2.0
// JSON parsers side by side on galley's read path (issue #14): nlohmann::json::parse, as galley
// parses the Marathon listing and Consul's KV listing today, against Debian's simdjson (DOM
// API) alone, and simdjson followed by building the same nlohmann tree (what adopting it
// would cost: the planner, normaliser and differ work on nlohmann values).
//
// Not part of the build (simdjson is not a dependency of galley). Build and run:
//   g++ -O2 -std=c++20 bench/json_parse_bench.cc -o /tmp/json_parse_bench -lsimdjson
//   /tmp/json_parse_bench apps.json kv.json ...   # files saved from a loaded galley-sandbox
// Prints, per file, the median of 7 runs of each.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <simdjson.h>

namespace {

using json = nlohmann::json;

json ToNlohmann(simdjson::dom::element e) {
  switch (e.type()) {
    case simdjson::dom::element_type::ARRAY: {
      json arr = json::array();
      for (simdjson::dom::element v : e.get_array()) arr.push_back(ToNlohmann(v));
      return arr;
    }
    case simdjson::dom::element_type::OBJECT: {
      json obj = json::object();
      for (auto field : e.get_object()) obj[std::string(field.key)] = ToNlohmann(field.value);
      return obj;
    }
    case simdjson::dom::element_type::INT64:
      return int64_t(e);
    case simdjson::dom::element_type::UINT64:
      return uint64_t(e);
    case simdjson::dom::element_type::DOUBLE:
      return double(e);
    case simdjson::dom::element_type::STRING:
      return std::string(std::string_view(e));
    case simdjson::dom::element_type::BOOL:
      return bool(e);
    case simdjson::dom::element_type::NULL_VALUE:
      return nullptr;
  }
  return nullptr;
}

template <typename F>
double MedianMs(F f) {
  std::vector<double> ms;
  for (int i = 0; i < 7; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    std::string text = ss.str();
    size_t sink = 0;
    double n = MedianMs([&] { sink += json::parse(text).size(); });
    simdjson::dom::parser parser;
    simdjson::padded_string padded(text);
    double s = MedianMs([&] {
      simdjson::dom::element doc = parser.parse(padded);
      sink += doc.is_array() ? doc.get_array().size() : 1;
    });
    double sn = MedianMs([&] { sink += ToNlohmann(parser.parse(padded)).size(); });
    std::printf("%s: %.1f MB  nlohmann %.0f ms  simdjson %.0f ms  simdjson+nlohmann tree %.0f ms\n",
                argv[i], text.size() / 1e6, n, s, sn);
  }
  return 0;
}
