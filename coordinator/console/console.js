// psd console: polls the coordinator's read-only JSON API and renders it. Every text from the
// API goes into the page as textContent (never innerHTML). Charts are uPlot's when it is
// installed; each poll asks a job's history only for the points after the last one it has.
'use strict';

(function () {
  const POLL_MS = 1500;
  const MAX_POINTS = 4000;  // per series kept in the page; thinned (every other point) beyond

  // What the page shows, for people and for tests (tests/console/check_console.mjs).
  const state = {
    charts: typeof window.uPlot === 'function',
    selected: null,      // job id
    points: 0,           // history points of the selected job in the charts
    lastStep: -1,
    nodes: [],           // [{id, name, role, state}]
    polls: 0,
    error: null,
  };
  window.psdConsole = state;

  const $ = (id) => document.getElementById(id);
  const num = (v) => (v === undefined || v === null || v === '' ? 0 : Number(v));
  const lower = (s, prefix) => String(s || '').replace(prefix, '').toLowerCase();

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function badge(tr, text) {
    const td = document.createElement('td');
    const span = document.createElement('span');
    span.className = 'state s-' + text;
    span.textContent = text;
    td.appendChild(span);
    tr.appendChild(td);
  }
  function fixed(v, digits) { return Number.isFinite(v) ? v.toFixed(digits) : '-'; }
  function ms(seconds) { return fixed(num(seconds) * 1000, 1); }
  function age(nowMs, thenMs) {
    if (!thenMs) return '-';
    const s = Math.max(0, (nowMs - thenMs) / 1000);
    return s < 120 ? s.toFixed(1) + ' s ago' : Math.round(s / 60) + ' min ago';
  }
  function replaceRows(tbody, rows) {
    tbody.replaceChildren(...rows);
  }

  async function getJson(path) {
    const r = await fetch(path, { cache: 'no-store' });
    if (!r.ok) throw new Error(path + ': ' + r.status + ' ' + (await r.text()).trim());
    return r.json();
  }

  // --- nodes ---
  function renderNodes(data) {
    const now = num(data.now_ms);
    const nodes = (data.nodes && data.nodes.nodes) || [];
    state.nodes = [];
    const rows = nodes.map((n) => {
      const info = n.node || {};
      const st = lower(n.state, 'NODE_');
      const role = lower(info.role, 'ROLE_');
      const name = info.identity || (info.hostname ? info.hostname + ':' + info.pid : '');
      state.nodes.push({ id: info.node_id, name: name, role: role, state: st });
      const tr = document.createElement('tr');
      if (st === 'dead') tr.className = 'dead';
      cell(tr, info.node_id);
      cell(tr, name);
      cell(tr, role);
      cell(tr, info.address);
      badge(tr, st);
      cell(tr, n.job_id || '-');
      cell(tr, n.job_id ? String(n.rank) : '-', 'num');
      cell(tr, age(now, num(n.last_heartbeat_ms)));
      return tr;
    });
    replaceRows($('nodes').tBodies[0], rows);
    const dead = state.nodes.filter((n) => n.state === 'dead').length;
    $('nodes-count').textContent = nodes.length + ' registered' + (dead ? ', ' + dead + ' dead' : '');
  }

  // --- jobs ---
  function renderJobs(data) {
    const jobs = (data.jobs && data.jobs.jobs) || [];
    if (state.selected === null && jobs.length > 0) {
      const running = jobs.find((j) => j.state === 'JOB_RUNNING');
      select((running || jobs[jobs.length - 1]).job_id);
    }
    const rows = jobs.slice().reverse().map((j) => {
      const p = j.progress || {};
      const tr = document.createElement('tr');
      tr.className = 'selectable' + (j.job_id === state.selected ? ' selected' : '');
      tr.addEventListener('click', () => select(j.job_id));
      cell(tr, j.job_id);
      badge(tr, lower(j.state, 'JOB_'));
      cell(tr, num(p.step) + '/' + num(p.total_steps), 'num');
      cell(tr, fixed(num(p.samples_per_sec), 0), 'num');
      cell(tr, num(p.step) > 0 ? fixed(num(p.loss), 4) : '-', 'num');
      const acc = j.result && num(j.result.steps) > 0 ? num(j.result.test_accuracy) : num(p.test_accuracy);
      cell(tr, acc >= 0 && (num(p.test_step) > 0 || num(j.result && j.result.steps) > 0) ? fixed(acc, 4) : '-', 'num');
      cell(tr, j.reason || '');
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement('tr');
      cell(tr, 'no jobs yet: psdctl submit JOB.yaml', 'muted').colSpan = 7;
      rows.push(tr);
    }
    replaceRows($('jobs').tBodies[0], rows);
    const total = num(data.total);
    $('jobs-count').textContent = jobs.length === 0 ? '' : jobs.length + (total > jobs.length ? ' of ' + total : '') + ' shown';
  }

  // --- the selected job ---
  let series = { step: [], loss: [], acc: [], sps: [] };
  const plots = {};

  function select(jobId) {
    if (jobId === state.selected) return;
    state.selected = jobId;
    state.lastStep = -1;
    state.points = 0;
    series = { step: [], loss: [], acc: [], sps: [] };
    history.replaceState(null, '', '#job=' + encodeURIComponent(jobId));
    drawCharts();
    poll();
  }

  function makePlot(id, label, stroke) {
    const el = $(id);
    el.replaceChildren();
    return new window.uPlot({
      width: 400, height: 220,
      legend: { show: false },
      scales: { x: { time: false } },
      axes: [{ label: 'step', size: 40, labelSize: 20 }, { size: 64 }],
      series: [{ label: 'step' }, { label: label, stroke: stroke, width: 2, spanGaps: true, points: { show: false } }],
    }, [[], []], el);
  }

  function drawCharts() {
    if (!state.charts) return;
    if (!plots.loss) {
      plots.loss = makePlot('chart-loss', 'loss', '#cf222e');
      plots.acc = makePlot('chart-acc', 'test accuracy', '#1a7f37');
      plots.sps = makePlot('chart-sps', 'samples/s', '#0969da');
    }
    plots.loss.setData([series.step, series.loss]);
    plots.acc.setData([series.step, series.acc]);
    plots.sps.setData([series.step, series.sps]);
  }

  function thin() {
    if (series.step.length <= MAX_POINTS) return;
    for (const k of Object.keys(series)) {
      const a = series[k];
      const last = a[a.length - 1];
      series[k] = a.filter((_, i) => i % 2 === 0);
      if ((a.length - 1) % 2 !== 0) series[k].push(last);
    }
  }

  function addHistory(data) {
    const points = data.points || [];
    for (const [step, loss, acc, sps] of points) {
      if (step <= state.lastStep) continue;
      series.step.push(step);
      series.loss.push(loss);
      series.acc.push(acc);
      series.sps.push(sps);
      state.lastStep = step;
    }
    thin();
    state.points = series.step.length;
    if (points.length > 0) drawCharts();
  }

  function renderJob(data) {
    const j = data.job || {};
    const p = j.progress || {};
    $('job-section').hidden = false;
    $('job-id').textContent = j.job_id;
    const st = lower(j.state, 'JOB_');
    $('job-state').textContent = st;
    $('job-state').className = 'state s-' + st;
    const parts = ['step ' + num(p.step) + '/' + num(p.total_steps),
      'epoch ' + (num(p.epoch) + 1) + '/' + num(p.epochs),
      num(p.live_workers) + ' live workers', 'generation ' + num(j.generation)];
    if (j.reason) parts.push(j.reason);
    $('job-summary').textContent = parts.join(' · ');

    const stragglers = j.stragglers || [];
    const byRank = new Map(stragglers.map((s) => [s.rank, s]));
    const lines = stragglers.map((s) => 'straggler: worker ' + s.rank + ' (' + s.node_id + '): ' + s.phase + ' ' +
      ms(s.seconds_per_step) + ' ms per step, the others ' + ms(s.others_seconds_per_step) + ' ms, since step ' + num(s.since_step));
    $('stragglers').hidden = lines.length === 0;
    $('stragglers').textContent = lines.join('; ');
    const workers = (j.workers || []).map((w) => {
      const ph = w.phases || {};
      const tr = document.createElement('tr');
      const s = byRank.get(w.rank);
      if (s) tr.className = 'straggler';
      cell(tr, String(w.rank), 'num');
      cell(tr, w.node_id);
      cell(tr, String(num(w.step)), 'num');
      cell(tr, fixed(num(w.samples_per_sec), 0), 'num');
      for (const k of ['data', 'forward', 'backward', 'push', 'wait', 'pull', 'step']) cell(tr, ms(ph[k]), 'num');
      cell(tr, s ? s.phase : '-');
      return tr;
    });
    replaceRows($('workers').tBodies[0], workers);

    const slow = j.slow_servers || [];
    const slowByRank = new Map(slow.map((s) => [s.rank, s]));
    $('slow-servers').hidden = slow.length === 0;
    $('slow-servers').textContent = slow.map((s) => 'slow server ' + s.rank + ' (' + s.node_id + '): ' + s.phase + ' ' +
      ms(s.seconds_per_step) + ' ms per call, the others ' + ms(s.others_seconds_per_step) + ' ms').join('; ');
    const servers = (j.servers || []).map((s) => {
      const tr = document.createElement('tr');
      if (slowByRank.has(s.rank)) tr.className = 'straggler';
      cell(tr, String(s.rank), 'num');
      cell(tr, s.node_id);
      cell(tr, String(num(s.calls)), 'num');
      cell(tr, ms(s.rpc_seconds), 'num');
      cell(tr, ms(s.apply_seconds), 'num');
      cell(tr, ms(Math.max(0, num(s.rpc_seconds) - num(s.apply_seconds))), 'num');
      cell(tr, fixed(num(s.bytes_per_second) / 1e6, 2), 'num');
      cell(tr, slowByRank.has(s.rank) ? slowByRank.get(s.rank).phase : '-');
      return tr;
    });
    if (servers.length === 0) {
      const tr = document.createElement('tr');
      const td = cell(tr, 'no server load reported yet', 'muted');
      td.colSpan = 8;
      servers.push(tr);
    }
    replaceRows($('servers').tBodies[0], servers);

    const events = (j.events || []).slice().reverse().map((e) => {
      const li = document.createElement('li');
      li.textContent = e;
      return li;
    });
    $('events').replaceChildren(...events);
    const total = num(data.events_total);
    $('events-count').textContent = total > events.length ? '(newest ' + events.length + ' of ' + total + ')' : '(' + total + ', newest first)';
  }

  let polling = false;
  async function poll() {
    if (polling) return;
    polling = true;
    try {
      const [nodes, jobs] = await Promise.all([getJson('/api/nodes'), getJson('/api/jobs')]);
      renderNodes(nodes);
      renderJobs(jobs);
      if (state.selected !== null) {
        const id = encodeURIComponent(state.selected);
        const job = await fetch('/api/jobs/' + id, { cache: 'no-store' });
        if (job.status === 404) {
          // Gone (or a stale #job= link): fall back to the default choice on the next poll.
          state.selected = null;
          $('job-section').hidden = true;
        } else {
          if (!job.ok) throw new Error('/api/jobs/' + id + ': ' + job.status);
          renderJob(await job.json());
          addHistory(await getJson('/api/jobs/' + id + '/history?since=' + state.lastStep));
        }
      }
      state.error = null;
      state.polls++;
      $('status').textContent = 'live';
      $('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    } catch (e) {
      state.error = String(e);
      $('status').textContent = 'coordinator unreachable: ' + e.message;
    } finally {
      polling = false;
    }
  }

  if (!state.charts) {
    $('charts-missing').hidden = false;
    $('charts').hidden = true;
  }
  const m = /^#job=(.+)$/.exec(location.hash);
  if (m) state.selected = decodeURIComponent(m[1]);
  poll();
  setInterval(poll, POLL_MS);
})();
