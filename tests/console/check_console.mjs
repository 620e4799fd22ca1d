// Drives the coordinator's web console in headless Chromium (Debian's /usr/bin/chromium, through
// puppeteer-core, which never downloads a browser) for //tests:console_test:
//   1. the page loads; the loss chart (uPlot's canvas) has drawn points of the running job, and
//      the nodes table lists every node, none dead;   -> console-running.png; prints "READY"
//   2. once the file --go exists (the test has killed worker --dead), waits until the page
//      shows that worker dead and the job's events say it was lost;   -> console-dead.png
// With --mode no-charts (a coordinator without uPlot): the page says plainly that the charts are
// unavailable and how to install them, and still lists the nodes.   -> console-no-uplot.png
// Prints "PASS ..." lines and exits 0, or prints "FAIL: why" and exits 1.
// Usage: node check_console.mjs --url URL --out DIR --nodes N --profile DIR
//        [--mode live --go FILE --dead NAME | --mode no-charts] [--chromium PATH] [--timeout-s S]
import fs from 'node:fs';
import path from 'node:path';
import puppeteer from 'puppeteer-core';

function args() {
  const a = { chromium: '/usr/bin/chromium', timeoutS: 90, mode: 'live' };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    a[key] = argv[i + 1];
  }
  for (const k of ['url', 'out', 'nodes', 'profile'].concat(a.mode === 'live' ? ['go', 'dead'] : [])) {
    if (a[k] === undefined) throw new Error('missing --' + k);
  }
  a.nodes = Number(a.nodes);
  a.timeoutS = Number(a.timeoutS);
  return a;
}

class Failure extends Error {}
function fail(why) {
  throw new Failure(why);
}

const opt = args();
const deadline = Date.now() + opt.timeoutS * 1000;
const left = () => Math.max(1000, deadline - Date.now());

const browser = await puppeteer.launch({
  executablePath: opt.chromium,
  headless: true,
  // --no-sandbox: the test runs as root in Bazel's sandbox. Nothing may reach the network.
  args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync',
    '--disable-extensions', '--user-data-dir=' + opt.profile,
    '--window-size=1400,1100'],
  defaultViewport: { width: 1400, height: 1100 },
  timeout: 60000,
});
// --mode live: charts with data, nodes listed; then the killed worker shown dead.
async function checkLive(page, problems) {
  // 1. Charts with data, nodes listed.
  try {
    await page.waitForFunction(
      (n) => window.psdConsole && window.psdConsole.charts && window.psdConsole.points >= 3 &&
        document.querySelector('#chart-loss canvas') !== null &&
        window.psdConsole.nodes.length >= n,
      { timeout: Math.min(left(), 60000), polling: 250 }, opt.nodes);
  } catch (e) {
    const s = await page.evaluate(() => JSON.stringify(window.psdConsole));
    await page.screenshot({ path: path.join(opt.out, 'console-timeout.png'), fullPage: true });
    fail('the charts did not get data: ' + s + ' ' + problems.join('; '));
  }
  // Let the charts gather a few more points, then look.
  await new Promise((r) => setTimeout(r, 3000));
  const seen = await page.evaluate(() => ({
    state: window.psdConsole,
    nodeRows: document.querySelectorAll('#nodes tbody tr').length,
    jobRows: document.querySelectorAll('#jobs tbody tr').length,
    workerRows: document.querySelectorAll('#workers tbody tr').length,
    canvases: ['#chart-loss', '#chart-acc', '#chart-sps'].map((s) => document.querySelector(s + ' canvas') !== null),
    missing: !document.getElementById('charts-missing').hidden,
  }));
  console.log('running: ' + JSON.stringify(seen));
  if (seen.missing) fail('the page says uPlot is not installed');
  if (seen.canvases.includes(false)) fail('a chart has no canvas: ' + seen.canvases);
  if (seen.nodeRows !== opt.nodes) fail(`the nodes table has ${seen.nodeRows} rows, want ${opt.nodes}`);
  if (seen.state.nodes.some((n) => n.state === 'dead')) fail('a node is dead already');
  if (seen.jobRows < 1) fail('no job in the job table');
  if (seen.workerRows < 1) fail('no worker in the workers table');
  console.log(`PASS charts drawn with ${seen.state.points} points, ${seen.nodeRows} nodes listed`);
  await page.screenshot({ path: path.join(opt.out, 'console-running.png'), fullPage: true });
  console.log('READY');

  // 2. The killed worker shows dead.
  while (!fs.existsSync(opt.go)) {
    if (Date.now() > deadline) fail('the test never said go');
    await new Promise((r) => setTimeout(r, 200));
  }
  try {
    await page.waitForFunction(
      (name) => window.psdConsole.nodes.some((n) => n.name === name && n.state === 'dead') &&
        [...document.querySelectorAll('#nodes tbody tr.dead td')].some((td) => td.textContent === name) &&
        [...document.querySelectorAll('#events li')].some((li) => /lost/.test(li.textContent)),
      { timeout: left(), polling: 250 }, opt.dead);
  } catch (e) {
    const s = await page.evaluate(() => JSON.stringify(window.psdConsole.nodes));
    await page.screenshot({ path: path.join(opt.out, 'console-timeout.png'), fullPage: true });
    fail(opt.dead + ' never showed dead: ' + s);
  }
  console.log(`PASS ${opt.dead} shows dead, and the job's events say it was lost`);
  await page.screenshot({ path: path.join(opt.out, 'console-dead.png'), fullPage: true });
  const bad = problems.filter((p) => !/favicon/.test(p));
  if (bad.length > 0) fail(bad.join('; '));
  console.log('PASS no errors, every answer had the Content-Security-Policy');
}

// --mode no-charts: the page of a coordinator without uPlot.
async function checkNoCharts(page, problems) {
  await page.waitForFunction((n) => window.psdConsole && window.psdConsole.polls > 0 &&
    window.psdConsole.nodes.length >= n, { timeout: left(), polling: 250 }, opt.nodes);
  const seen = await page.evaluate(() => {
    const p = document.getElementById('charts-missing');
    return { shown: !p.hidden && p.offsetHeight > 0, text: p.textContent,
      chartsHidden: document.getElementById('charts').hidden,
      nodeRows: document.querySelectorAll('#nodes tbody tr').length };
  });
  console.log('no charts: ' + JSON.stringify(seen));
  const want = 'charts unavailable: uPlot not installed (run deploy/local/install_deps.sh)';
  if (!seen.shown || seen.text !== want) fail('the page does not say: ' + want);
  if (!seen.chartsHidden) fail('the empty charts are shown');
  if (seen.nodeRows !== opt.nodes) fail(`the nodes table has ${seen.nodeRows} rows, want ${opt.nodes}`);
  await page.screenshot({ path: path.join(opt.out, 'console-no-uplot.png'), fullPage: true });
  // uPlot's own 404s are expected; nothing else may fail.
  const bad = problems.filter((p) => !/uPlot|404/.test(p));
  if (bad.length > 0) fail(bad.join('; '));
  console.log('PASS without uPlot the page says so and still lists ' + seen.nodeRows + ' nodes');
}

let exitCode = 0;
try {
  const page = await browser.newPage();
  const problems = [];
  page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
  page.on('pageerror', (e) => problems.push('page error: ' + e.message));
  page.on('requestfailed', (r) => problems.push('request failed: ' + r.url()));
  page.on('response', (r) => {
    const h = r.headers();
    if (h['content-security-policy'] !== "default-src 'self'") problems.push('no CSP on ' + r.url());
  });
  await page.goto(opt.url, { waitUntil: 'load', timeout: left() });

  await (opt.mode === 'no-charts' ? checkNoCharts : checkLive)(page, problems);
} catch (e) {
  console.log('FAIL: ' + (e instanceof Failure ? e.message : e && e.stack ? e.stack : e));
  exitCode = 1;
} finally {
  await browser.close();
}
process.exit(exitCode);
