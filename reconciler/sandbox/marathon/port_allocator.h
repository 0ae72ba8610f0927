// SPDX-License-Identifier: Apache-2.0
// Port bookkeeping for the Marathon emulator:
//  - ServicePortAllocator: service ports (portDefinitions[].port, portMappings[].servicePort)
//    assigned from --local_port_min (10000) up to --local_port_max (20000, excluded), first free,
//    reusing an app's previous ports by index when the client re-sends 0
//    (AssignDynamicServiceLogic).
//  - HostPortAllocator: host ports handed to tasks from a fixed range, round robin.
// Not synchronised: the emulator calls them under its own lock.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "sandbox/marathon/util.h"

namespace galley::sandbox::marathon {

// Why `--local-port-min min --local-port-max max` cannot be Marathon's service port range
// [min, max): "" when it can (1 <= min < max <= 65535).
std::string ServicePortRangeError(int min, int max);
// What Marathon says when every port of [min, max) is taken (PortRangeExhaustedException).
std::string ServicePortsExhausted(int min, int max);

class ServicePortAllocator {
 public:
  ServicePortAllocator(int first, int last) : first_(first), last_(last), hint_(first) {}

  // Replaces service ports of 0 in `app` (normalised) with concrete ones: the port `old`
  // had at the same index when there is one, else the first free port not used by any app
  // nor already picked in this request (`picked`). Returns false when the range is exhausted.
  bool Assign(Json& app, const Json* old, std::set<int>* picked) const;
  // Records that an app now uses `ports` instead of `previous`.
  void Commit(const std::vector<int>& previous, const std::vector<int>& ports);
  void Clear() {
    used_.clear();
    hint_ = first_;
  }
  std::vector<int> InUse() const;

 private:
  int first_, last_;
  int hint_ = 0;             // every port in [first_, hint_) is in use
  std::map<int, int> used_;  // port → number of apps using it
};

class HostPortAllocator {
 public:
  HostPortAllocator(int first, int last) : first_(first), last_(last), next_(first) {}
  // Picks `count` ports; when `share_when_full`, ports may be shared once the range is
  // exhausted (simulated tasks listen nowhere), else returns false when it is full.
  bool Allocate(int count, bool share_when_full, std::vector<int>* out);
  void Release(const std::vector<int>& ports);
  // Real tasks listen on their ports: a port something else on the machine holds (another
  // sandbox, any server) is skipped when `probe` says it is taken.
  void set_probe(std::function<bool(int port)> available) { probe_ = std::move(available); }

 private:
  std::function<bool(int)> probe_;
  int first_, last_, next_;
  std::map<int, int> used_;
};

}  // namespace galley::sandbox::marathon
