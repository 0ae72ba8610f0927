// SPDX-License-Identifier: Apache-2.0
// galley serve's dashboard: drill-down clicks on the grid, the apply button (the API token is
// asked for and kept in this tab's sessionStorage, never in a page), and live updates: an
// EventSource on /ui/events says "change"; the grid then reads /ui/cells and updates the cells
// that changed in place (a new set of services or environments reloads the page), other pages
// reload when the worker's snapshot moved. No framework, no external assets.
(function () {
  'use strict';
  var NAMES = ['in sync', 'pending', 'drifted', 'failed', 'deploying', 'paused', 'unmanaged',
               'unknown'];
  var body = document.body;
  var page = body.dataset.page;
  var snapshot = body.dataset.snapshot;
  var layout = body.dataset.layout;
  function $(id) { return document.getElementById(id); }

  var grid = $('grid');
  var envs = [];
  if (grid) {
    var ths = grid.querySelectorAll('thead th[data-e]');
    for (var h = 0; h < ths.length; h++) envs.push(ths[h].dataset.e);
    grid.addEventListener('click', function (ev) {
      var td = ev.target.closest('td');
      if (!td || !td.parentElement.dataset.s) return;
      var env = envs[td.cellIndex - 1];
      if (env === undefined) return;
      location.href = '/ui/service/' + encodeURIComponent(td.parentElement.dataset.s) + '/' +
                      encodeURIComponent(env);
    });
  }

  function setLeader(leader) {
    var el = $('leader');
    if (!el) return;
    el.className = leader ? 'leader' : 'readonly';
    el.textContent = leader ? 'leader' : 'read-only (not the leader)';
    var btn = $('apply');
    if (btn && !leader) btn.disabled = true;
  }

  function updatePlanBar(plan) {
    var bar = $('applybar');
    if (!bar || !plan) return;
    if (bar.dataset.planId !== plan.id) {
      bar.dataset.planId = plan.id;
      $('plan-id').textContent = plan.id.substring(0, 19);
    }
    $('plan-actions').textContent = String(plan.actions);
    bar.hidden = !(plan.id && plan.actions > 0);
  }

  function updateGrid(c) {
    if (c.layout !== layout) { location.reload(); return; }
    var tds = grid.getElementsByTagName('td');  // every chunk's, row-major
    var st = c.states;
    var n = Math.min(tds.length, st.length);
    for (var i = 0; i < n; i++) {
      var cls = 's' + st.charAt(i);
      if (tds[i].className !== cls) {
        tds[i].className = cls;
        tds[i].textContent = NAMES[+st.charAt(i)];
      }
    }
    for (var k = 0; k < NAMES.length; k++) {
      var el = $('n' + k);
      if (el) el.textContent = String(c.counts[NAMES[k]]);
    }
    var act = $('activity');
    if (act) act.textContent = c.applying ? c.activity : '';
    updatePlanBar(c.plan);
  }

  var busy = false, again = false;
  function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    fetch('/ui/cells', {cache: 'no-store'})
      .then(function (r) { return r.json(); })
      .then(function (c) {
        busy = false;
        setLeader(c.leader);
        if (page === 'grid' && grid) {
          updateGrid(c);
        } else if (page === 'grid' ? c.layout : String(c.snapshot) !== snapshot) {
          location.reload();
          return;
        }
        body.dataset.updates = String((+body.dataset.updates || 0) + 1);
        if (again) { again = false; refresh(); }
      })
      .catch(function () { busy = false; });
  }

  var btn = $('apply'), tok = $('token'), out = $('apply-result');
  if (btn && tok) {
    var saved = sessionStorage.getItem('galley-token');
    if (saved) tok.value = saved;
    btn.addEventListener('click', function () {
      var t = tok.value.trim();
      if (!t) { out.textContent = 'Enter the API token first.'; tok.focus(); return; }
      sessionStorage.setItem('galley-token', t);
      var id = $('applybar').dataset.planId;
      btn.disabled = true;
      out.textContent = 'Applying plan ' + id.substring(0, 19) + '…';
      fetch('/api/v1/apply', {
        method: 'POST',
        headers: {'Content-Type': 'application/json', 'Authorization': 'Bearer ' + t},
        body: JSON.stringify({plan_id: id})
      })
        .then(function (r) {
          return r.json().then(function (j) { return [r.status, j]; },
                               function () { return [r.status, {}]; });
        })
        .then(function (a) {
          var s = a[0], j = a[1];
          if (s === 401 || s === 403) sessionStorage.removeItem('galley-token');
          out.textContent = (s === 200 ? 'Applied: ' : s === 202 ? 'Running: ' : 'Refused (' + s + '): ') +
                            (j.outcome || j.error || j.message || '');
          out.className = s < 300 ? 'ok' : 'error';
          btn.disabled = false;
          refresh();
        })
        .catch(function (e) { out.textContent = 'Failed: ' + e; btn.disabled = false; });
    });
  }

  if (window.EventSource) {
    var live = $('live');
    var es = new EventSource('/ui/events');
    es.addEventListener('hello', function () {
      if (live) { live.textContent = '●'; live.className = 'on'; }
      refresh();
    });
    es.addEventListener('change', refresh);
    es.onerror = function () { if (live) { live.textContent = '○'; live.className = 'muted'; } };
  }
})();
