// SPDX-License-Identifier: Apache-2.0
// Crash recovery: settles the journal entries an apply that died (kill -9, a lost machine,
// SIGINT while deploying) left "started", against live state, before the next apply plans.
// Part of the executor's API: engine/apply.h includes it.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "model/live_state.h"

namespace galley::engine {

class ApplyTarget;
struct ApplyRecords;
struct ApplyOptions;

// Resolves the journal entries a crashed apply left "started": each is checked against
// `live` and finished as succeeded (its effect is live: the applied records are written,
// nothing is repeated) or failed (it never took effect). An app that was written but is
// still deploying is first followed until it is healthy, with `options`' deadline, events
// and clock (at the deadline its deployment is cancelled and the entry fails). Returns one
// line per entry.
Result<std::vector<std::string>> RecoverInterrupted(const model::LiveState& live,
                                                    ApplyTarget& target, ApplyRecords& records,
                                                    const ApplyOptions& options);

}  // namespace galley::engine
