#!/usr/bin/env node
// End-to-end check of the web UI in headless Chromium, against a running engine that serves
// it at /ui/. Loads every page, checks the Costs total, switches the default alias on the
// Models page, mutes and shows again a desktop notification kind on the Settings page (where
// it has the "Desktop app" section; the engine's preferences must follow), measures the first
// paint of /ui/, and saves a screenshot of each page.
//
//   node tests/ui/e2e.mjs <base-url> [screenshot-dir]
//
// base-url: the engine, e.g. http://127.0.0.1:8080 (or LODESTAR_UI_URL); screenshot-dir
// (or LODESTAR_UI_SHOTS; default ./ui-shots) receives <page>-1280x800.png and
// costs-800x600.png.
//
// Environment:
//   EXPECT_COST_USD     the Costs page's total spend (default range: last 7 days), either as
//                       the UI shows it ("$0.0123") or as a number (0.0123, formatted here by
//                       the UI's rule); unset: the total is only required to be shown
//   E2E_DEFAULT_ALIAS   the alias to make the default (default: the first one that is not)
//   E2E_EXPECT_DOWN     a provider the Providers page must show as down (the caller stopped it)
//   E2E_EDIT_ROUTE      alias:provider/model — add that entry to the alias's route, first
//   E2E_UNLOAD          a model the GPU page lists as loaded (Ollama): click its Unload
//   E2E_EXPECT_CONTEXT  text (e.g. "32K") that some route entry's context size on the Models
//                       page must show, with the exact count in its tooltip
//   E2E_EXPECT_SWITCH   a model the GPU page's "Model switches" table must list
//   E2E_PROJECT         name:alias — the Projects page must list project `name`; its Edit form
//                       refuses a quota that is not a number and a budget period without an
//                       amount (by the field, sending nothing), then makes `alias` its default
//                       and gives it a budget of $25 per month (no hard limit), and the list
//                       shows both (also after a reload), as does the engine's project list
//   E2E_ADD_PROVIDER=1  try the Providers page's "Add a provider" form with a bad URL (the
//                       error must show next to the URL field) and "Test connection" on a dead one
//   LODESTAR_NPM_DIR    where playwright-core is installed if missing (default ~/.cache/lodestar-npm)
//   CHROMIUM            the browser (default /usr/bin/chromium)
//   E2E_TIMEOUT_MS      how long to wait for anything (default 15000)
//
// Prints one JSON object on stdout ({first_contentful_paint_ms, app_ready_ms,
// default_alias, cost_total, screenshots, ...}); progress goes to stderr. Exits 1 with a
// message naming what failed.

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

const PLAYWRIGHT_VERSION = '1.65.1';
const PAGES = [
  // [slug, the element that says the page has loaded]
  ['models', '[data-testid=default-select]'],
  ['providers', '[data-testid=circuits]'],
  ['gpu', '[data-testid=gpu-none], [data-testid^=gpu-card-]'],
  ['costs', '[data-testid=cost-total]'],
  ['projects', '[data-testid=projects-list], [data-testid=projects-empty]'],
  ['requests', '[data-testid=requests-table], [data-testid=requests-empty]'],
  ['settings', '[data-testid=config-facts]'],
];

const log = (...a) => console.error('e2e:', ...a);
class Failure extends Error {}
const fail = (msg) => { throw new Failure(msg); };

/// The UI's money format (ui/src/format.rs `usd`): cents from $1, four decimals below.
export function usd(v) {
  if (!Number.isFinite(v)) return '—';
  if (v < 0) return '-' + usd(-v);
  if (v === 0) return '$0.00';
  if (v >= 1) {
    const cents = Math.round(v * 100);
    const whole = Math.floor(cents / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return `$${whole}.${String(cents % 100).padStart(2, '0')}`;
  }
  if (v < 0.00005) return '<$0.0001';
  const s = `$${v.toFixed(4)}`;
  return s === '$1.0000' ? '$1.00' : s;
}

function loadPlaywright() {
  const dir = resolve(process.env.LODESTAR_NPM_DIR || join(homedir(), '.cache', 'lodestar-npm'));
  const req = createRequire(join(dir, 'package.json'));
  try {
    return req('playwright-core');
  } catch {
    log(`installing playwright-core@${PLAYWRIGHT_VERSION} into ${dir}`);
    mkdirSync(dir, { recursive: true });
    try {
      execFileSync('npm', ['install', '--prefix', dir, '--no-audit', '--no-fund', `playwright-core@${PLAYWRIGHT_VERSION}`], { stdio: ['ignore', 2, 2] });
    } catch (e) {
      fail(`could not install playwright-core into ${dir} (npm: ${e.message}); install it there by hand or set LODESTAR_NPM_DIR`);
    }
    return req('playwright-core');
  }
}

async function main() {
  const base = (process.argv[2] || process.env.LODESTAR_UI_URL || '').replace(/\/+$/, '').replace(/\/ui$/, '');
  if (!base) fail('usage: node tests/ui/e2e.mjs <base-url> [screenshot-dir] (or set LODESTAR_UI_URL)');
  const shots = resolve(process.argv[3] || process.env.LODESTAR_UI_SHOTS || 'ui-shots');
  mkdirSync(shots, { recursive: true });
  const timeout = Number(process.env.E2E_TIMEOUT_MS || 15000);
  const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) fail(`no browser at ${executablePath}: apt-get install chromium (or set CHROMIUM)`);

  const { chromium } = loadPlaywright();
  const browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
  const out = { base_url: base, screenshots: [] };
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    context.setDefaultTimeout(timeout);
    const page = await context.newPage();
    const problems = [];
    page.on('pageerror', (e) => problems.push(`uncaught error in the page: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && /panicked|RuntimeError|unreachable/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    // When the app's nav first exists: "ready", as opposed to the static shell's first paint.
    await page.addInitScript(() => {
      const seen = () => document.querySelector('[data-testid=nav]');
      const obs = new MutationObserver(() => {
        if (seen()) { window.__appReady = performance.now(); obs.disconnect(); }
      });
      obs.observe(document, { childList: true, subtree: true });
    });

    const check = () => { if (problems.length) fail(problems.join('\n')); };
    const noErrorNote = async (slug) => {
      const note = page.locator('[data-testid=error-note]');
      if (await note.count()) fail(`the ${slug} page shows an error: ${(await note.first().innerText()).replace(/\s+/g, ' ')}`);
    };
    const waitFor = async (slug, selector) => {
      try {
        await page.locator(`${selector}, [data-testid=error-note]`).first().waitFor({ state: 'visible' });
      } catch {
        fail(`the ${slug} page did not show ${selector} within ${timeout} ms`);
      }
      await noErrorNote(slug);
    };

    // First paint of /ui/.
    const resp = await page.goto(`${base}/ui/`, { waitUntil: 'load' });
    if (!resp || !resp.ok()) fail(`${base}/ui/ answered ${resp ? resp.status() : 'nothing'}: is the UI built (ui/build.sh) and the engine running?`);
    await page.locator('[data-testid=nav]').waitFor().catch(() => fail('the app did not start at /ui/ (no nav bar): see the browser console'));
    const paint = await page.evaluate(() => {
      const fcp = performance.getEntriesByName('first-contentful-paint')[0];
      return { fcp: fcp ? fcp.startTime : null, ready: window.__appReady ?? null };
    });
    if (paint.fcp == null) fail('the browser recorded no first-contentful-paint for /ui/');
    out.first_contentful_paint_ms = Math.round(paint.fcp * 10) / 10;
    out.app_ready_ms = paint.ready == null ? null : Math.round(paint.ready * 10) / 10;
    log(`first contentful paint ${out.first_contentful_paint_ms} ms, app ready ${out.app_ready_ms} ms`);
    check();

    // Every page, through the nav (client-side routing) and by URL, with a screenshot.
    for (const [slug, ready] of PAGES) {
      await page.locator(`[data-testid=nav-${slug}]`).click();
      await page.waitForURL(`**/ui/${slug}**`);
      await waitFor(slug, ready);
      const current = await page.locator(`[data-testid=nav-${slug}]`).getAttribute('aria-current');
      if (current !== 'page') fail(`the nav does not mark ${slug} as the current page`);
      await page.goto(`${base}/ui/${slug}`);
      await waitFor(slug, ready);
      await page.waitForTimeout(150);
      const file = join(shots, `${slug}-1280x800.png`);
      await page.screenshot({ path: file });
      out.screenshots.push(file);
      log(`${slug}: ok`);
      check();
    }

    // Costs: the total.
    await page.goto(`${base}/ui/costs`);
    await waitFor('costs', '[data-testid=cost-total]');
    const total = (await page.locator('[data-testid=cost-total]').innerText()).trim();
    out.cost_total = total;
    const want = process.env.EXPECT_COST_USD;
    if (want !== undefined && want !== '') {
      const expected = want.trim().startsWith('$') || want.trim().startsWith('<') ? want.trim() : usd(Number(want));
      if (total !== expected) fail(`the Costs page shows a total of ${total}, expected ${expected} (EXPECT_COST_USD=${want})`);
      log(`costs total ${total}: as expected`);
    }
    if (total !== '$0.00' && await page.locator('[data-testid=cost-chart]').count() === 0) {
      fail(`the Costs page shows ${total} spent but no chart`);
    }
    // The CSV export of the series on screen, made in the page.
    const exportButton = page.locator('[data-testid=csv-export]');
    if (await exportButton.count() && await exportButton.isEnabled()) {
      const [download] = await Promise.all([page.waitForEvent('download'), exportButton.click()]);
      const csv = readFileSync(await download.path(), 'utf8').trim().split(/\r?\n/);
      if (!csv[0].startsWith('bucket_start_local,bucket_start_ms,')) fail(`the CSV export's header is ${csv[0]}`);
      if (csv.length < 2) fail('the CSV export has no rows though the chart shows spend');
      out.csv_file = download.suggestedFilename();
      out.csv_rows = csv.length - 1;
      log(`csv export: ${out.csv_file}, ${out.csv_rows} rows`);
    }
    // Hourly buckets: the controls live in the URL, and the total does not change.
    await page.locator('[data-testid=bucket-picker] input[value=hour]').check();
    await page.waitForURL(/bucket=hour/);
    await waitFor('costs', '[data-testid=cost-total]');
    const hourly = (await page.locator('[data-testid=cost-total]').innerText()).trim();
    if (hourly !== total) fail(`switching the chart to hours changed the total from ${total} to ${hourly}`);
    await page.setViewportSize({ width: 800, height: 600 });
    await page.waitForTimeout(150);
    const small = join(shots, 'costs-800x600.png');
    await page.screenshot({ path: small });
    out.screenshots.push(small);
    await page.setViewportSize({ width: 1280, height: 800 });

    // Requests: a row opens its details.
    await page.goto(`${base}/ui/requests`);
    await waitFor('requests', '[data-testid=requests-table], [data-testid=requests-empty]');
    const rows = page.locator('[data-testid=request-row]');
    out.request_rows = await rows.count();
    if (out.request_rows > 0) {
      await rows.first().click();
      await page.locator('[data-testid=request-detail]').waitFor().catch(() => fail('clicking a request row showed no details'));
      const file = join(shots, 'requests-detail-1280x800.png');
      await page.screenshot({ path: file });
      out.screenshots.push(file);
    }

    // Models: switch the default alias, and see it stick after a reload.
    await page.goto(`${base}/ui/models`);
    await waitFor('models', '[data-testid=default-select]');
    const select = page.locator('[data-testid=default-select]');
    const before = await select.inputValue();
    const options = (await select.locator('option').evaluateAll((os) => os.filter((o) => !o.disabled).map((o) => o.value)));
    const target = process.env.E2E_DEFAULT_ALIAS || options.find((o) => o && o !== before);
    if (!target) fail(`the Models page offers no other alias to switch to (options: ${options.join(', ') || 'none'})`);
    if (!options.includes(target)) fail(`the Models page does not offer alias ${target} (options: ${options.join(', ')})`);
    await select.selectOption(target);
    const status = page.locator('[data-testid=default-status]');
    try {
      await page.waitForFunction(
        (t) => {
          const s = document.querySelector('[data-testid=default-status]');
          return s && (s.textContent.includes(t) || s.getAttribute('role') === 'alert');
        },
        target,
      );
    } catch {
      fail(`switching the default to ${target} got no answer within ${timeout} ms`);
    }
    if ((await status.getAttribute('role')) === 'alert') fail(`switching the default to ${target} failed: ${await status.innerText()}`);
    await page.reload();
    await waitFor('models', '[data-testid=default-select]');
    const after = await page.locator('[data-testid=default-select]').inputValue();
    if (after !== target) fail(`after switching the default to ${target} and reloading, the control shows ${after || 'nothing'}`);
    const badge = page.locator(`[data-testid=alias-${target}] [data-testid=default-badge]`);
    if (await badge.count() !== 1) fail(`the ${target} alias card is not marked default after the switch`);
    out.default_before = before;
    out.default_alias = target;
    log(`default alias: ${before} -> ${target}`);
    check();

    // Models: a route entry shows its context window (E2E_EXPECT_CONTEXT=32K), the exact
    // count and where it comes from in its tooltip.
    const expectContext = process.env.E2E_EXPECT_CONTEXT;
    if (expectContext) {
      const shownContexts = () => page.locator('[data-testid=route-context]').allInnerTexts().then((ts) => ts.map((t) => t.trim()));
      await page.waitForFunction(
        (t) => [...document.querySelectorAll('[data-testid=route-context]')].some((c) => c.textContent.trim() === t),
        expectContext,
      ).catch(async () => fail(`no route entry on the Models page shows a context of ${expectContext} (shown: ${(await shownContexts()).join(', ') || 'none'})`));
      const cell = page.locator('[data-testid=route-context]').filter({ hasText: expectContext }).first();
      const title = (await cell.getAttribute('title')) || '';
      if (!/\d[\d,]* tokens/.test(title)) fail(`the context ${expectContext} on the Models page has no exact count in its tooltip (title: ${title || 'none'})`);
      out.context_shown = expectContext;
      out.context_title = title;
      const file = join(shots, 'models-context-1280x800.png');
      await cell.locator('xpath=ancestor::article[1]').screenshot({ path: file });
      out.screenshots.push(file);
      log(`models: a route entry shows ${expectContext} of context (${title})`);
      check();
    }

    // GPU: the "Model switches" table lists a model that Ollama had to load
    // (E2E_EXPECT_SWITCH=model). Checked before anything below reloads the config: the engine
    // keeps its switches per config generation.
    const expectSwitch = process.env.E2E_EXPECT_SWITCH;
    if (expectSwitch) {
      await page.goto(`${base}/ui/gpu`);
      await waitFor('gpu', '[data-testid=gpu-switches]');
      const rows = page.locator('[data-testid=switch-row]');
      await page.waitForFunction(
        (m) => [...document.querySelectorAll('[data-testid=switch-row]')].some((r) => r.textContent.includes(m)),
        expectSwitch,
      ).catch(async () => {
        const section = (await page.locator('[data-testid=gpu-switches]').innerText()).replace(/\s+/g, ' ');
        fail(`the GPU page's model switches do not list ${expectSwitch}: ${section}`);
      });
      const row = rows.filter({ hasText: expectSwitch }).first();
      out.switch_took = (await row.locator('[data-testid=switch-took]').innerText()).trim();
      if (!/^\d+(\.\d+)? (ms|s)$|^\d+m \d\ds$/.test(out.switch_took)) fail(`the switch of ${expectSwitch} shows a time of "${out.switch_took}"`);
      out.switch_listed = expectSwitch;
      const file = join(shots, 'gpu-switches-1280x800.png');
      await page.locator('[data-testid=gpu-switches]').screenshot({ path: file });
      out.screenshots.push(file);
      log(`gpu: switch to ${expectSwitch} listed, ${out.switch_took} to first byte`);
      check();
    }

    // Providers: adding one with a bad address shows the engine's error next to that field;
    // "Test connection" on a dead address says why.
    if (process.env.E2E_ADD_PROVIDER === '1') {
      await page.goto(`${base}/ui/providers`);
      await waitFor('providers', '[data-testid=add-provider]');
      await page.locator('[data-testid=ap-name]').fill('gpu-box');
      await page.locator('[data-testid=ap-url]').fill('gpu-box:8000');
      await page.locator('[data-testid=ap-add]').click();
      const err = page.locator('[data-testid=ap-error-base_url]');
      try {
        await err.waitFor();
      } catch {
        fail('adding a provider with a bad URL showed no error next to the URL field');
      }
      out.add_provider_error = (await err.innerText()).trim();
      if (!/http/.test(out.add_provider_error)) fail(`the URL field's error does not say what a valid URL is: ${out.add_provider_error}`);
      await page.locator('[data-testid=ap-url]').fill('http://127.0.0.1:9/v1');
      await page.locator('[data-testid=ap-test]').click();
      const tested = page.locator('[data-testid=ap-test-result]');
      await tested.waitFor().catch(() => fail('"Test connection" gave no result'));
      if ((await tested.getAttribute('data-ok')) !== 'false') fail('"Test connection" on a dead address did not fail');
      const file = join(shots, 'providers-add-error-1280x800.png');
      await page.locator('[data-testid=add-provider]').screenshot({ path: file });
      out.screenshots.push(file);
      log(`add provider: error on the URL field: ${out.add_provider_error}`);
      check();
    }

    // Models: edit a route (E2E_EDIT_ROUTE=alias:entry puts a new first entry in front) and
    // try to add an alias whose route names an unknown provider (the error shows by the field).
    const edit = process.env.E2E_EDIT_ROUTE;
    if (edit) {
      const [alias, entry] = edit.split(/:(.*)/s);
      await page.goto(`${base}/ui/models`);
      await waitFor('models', `[data-testid=alias-${alias}]`);
      await page.locator(`[data-testid=edit-route-${alias}]`).click();
      const editor = page.locator(`[data-testid=route-editor-${alias}]`);
      await editor.locator('[data-testid=route-add-input]').fill(entry);
      await editor.locator('[data-testid=route-add]').click();
      const items = editor.locator('[data-testid=route-entries] li');
      const n = await items.count();
      await editor.getByRole('button', { name: `Move ${entry} up` }).click();
      for (let i = 2; i < n; i++) await editor.getByRole('button', { name: `Move ${entry} up` }).click();
      await editor.locator('[data-testid=route-save]').click();
      try {
        await editor.waitFor({ state: 'detached' });
      } catch {
        fail(`saving ${alias}'s route did not close the editor: ${await editor.innerText()}`);
      }
      await page.locator(`[data-testid=alias-${alias}] tbody tr`).first().waitFor();
      await page.waitForFunction(([a, e]) => {
        const row = document.querySelector(`[data-testid=alias-${a}] tbody tr`);
        return row && row.textContent.includes(e);
      }, [alias, entry]).catch(() => fail(`after saving, ${alias}'s first entry is not ${entry}`));
      out.route_edited = `${alias}:${entry}`;
      await page.locator('[data-testid=aa-name]').fill('broken');
      await page.locator('[data-testid=aa-route]').fill('nosuch/model');
      await page.locator('[data-testid=aa-add]').click();
      const err = page.locator('[data-testid=aa-error-route]');
      await err.waitFor().catch(() => fail('adding an alias with an unknown provider showed no error by the route field'));
      out.add_alias_error = (await err.innerText()).trim();
      const file = join(shots, 'models-edit-1280x800.png');
      await page.screenshot({ path: file, fullPage: true });
      out.screenshots.push(file);
      log(`models: ${alias}'s route now starts with ${entry}; bad alias refused: ${out.add_alias_error}`);
      check();
    }

    // Projects: the project is listed; its Edit form (focused when it opens) refuses a quota
    // that is not a number and a budget period without an amount without asking the engine,
    // then sets its default alias (E2E_PROJECT=name:alias) and a budget of $25 per month,
    // which the list then shows, also after a reload, and the engine has.
    const project = process.env.E2E_PROJECT;
    if (project) {
      const [name, alias] = project.split(/:(.*)/s);
      if (!name || !alias) fail(`E2E_PROJECT must be name:alias, not ${project}`);
      await page.goto(`${base}/ui/projects`);
      await waitFor('projects', '[data-testid=projects-list], [data-testid=projects-empty]');
      const card = page.locator(`[data-testid="project-card-${name}"]`);
      if (await card.count() !== 1) {
        const listed = await page.locator('.project .card-head h2').allInnerTexts();
        fail(`the Projects page does not list project ${name} (it lists: ${listed.join(', ') || 'none'})`);
      }
      out.project_configured = await card.locator('[data-testid=project-configured]').count() === 1;
      out.project_requests_today = (await card.locator(`[data-testid="project-requests-${name}"]`).innerText()).trim();
      const shown = () => page.locator(`[data-testid="project-default-${name}"]`).innerText().then((t) => t.trim());
      out.project_default_before = await shown();
      await card.locator(`[data-testid="edit-project-${name}"]`).click();
      const form = page.locator(`[data-testid="project-form-${name}"]`);
      await form.waitFor().catch(() => fail(`"Edit" on project ${name} opened no form`));
      const focused = await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid);
      if (focused !== 'project-default-select') fail(`opening project ${name}'s form did not focus its first field (focus is on ${focused || 'nothing'})`);
      // A quota that is not a number: refused by its field, nothing sent.
      let puts = 0;
      const countPut = (r) => { if (r.method() === 'PUT' && r.url().includes('/admin/api/projects/')) puts++; };
      page.on('request', countPut);
      const tokens = form.locator('[data-testid=project-tokens-input]');
      const tokensBefore = await tokens.inputValue();
      await tokens.fill('lots');
      await form.locator('[data-testid=project-save]').click();
      await form.locator('[data-testid=project-error-tokens]').waitFor()
        .catch(() => fail(`a tokens-per-day quota of "lots" showed no error by that field`));
      out.project_quota_error = (await form.locator('[data-testid=project-error-tokens]').innerText()).trim();
      await page.waitForTimeout(200);
      if (puts !== 0) fail(`a tokens-per-day quota of "lots" was sent to the engine (${puts} PUT)`);
      await tokens.fill(tokensBefore);
      await form.locator('[data-testid=project-error-tokens]').waitFor({ state: 'detached' })
        .catch(() => fail('correcting the tokens-per-day quota did not clear its error'));
      // A budget period without an amount: refused by the amount's field, nothing sent.
      const period = form.locator('[data-testid=project-budget-period]');
      const budgetUsd = form.locator('[data-testid=project-budget-usd]');
      const periods = await period.locator('option').evaluateAll((os) => os.map((o) => o.value));
      if (!periods.includes('') || !periods.includes('month')) fail(`project ${name}'s budget period offers ${periods.map((p) => p || 'none').join(', ')}, not none and month`);
      await period.selectOption('month');
      await budgetUsd.fill('');
      await form.locator('[data-testid=project-budget-hard-limit]').fill('');
      await form.locator('[data-testid=project-save]').click();
      const budgetError = form.locator('[data-testid=project-error-budget-usd]');
      await budgetError.waitFor()
        .catch(() => fail('a budget per month with no amount showed no error by the amount field'));
      out.project_budget_error = (await budgetError.innerText()).trim();
      await page.waitForTimeout(200);
      if (puts !== 0) fail(`a budget per month with no amount was sent to the engine (${puts} PUT)`);
      const budgetFocused = await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid);
      if (budgetFocused !== 'project-budget-usd') fail(`the budget amount's error did not move the focus to that field (focus is on ${budgetFocused || 'nothing'})`);
      await budgetUsd.fill('25');
      await budgetError.waitFor({ state: 'detached' })
        .catch(() => fail('typing a budget amount did not clear its error'));
      // The default alias, from the aliases the engine has.
      const select = form.locator('[data-testid=project-default-select]');
      const offered = await select.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
      if (!offered.includes(alias)) fail(`project ${name}'s default picker does not offer ${alias} (it offers: ${offered.join(', ') || 'nothing'})`);
      await select.selectOption(alias);
      await page.setViewportSize({ width: 800, height: 600 });
      await form.scrollIntoViewIfNeeded();
      await page.waitForTimeout(150);
      const small = join(shots, 'projects-edit-800x600.png');
      await page.screenshot({ path: small });
      out.screenshots.push(small);
      await page.setViewportSize({ width: 1280, height: 800 });
      await form.locator('[data-testid=project-save]').click();
      await page.waitForFunction((n) => {
        const f = document.querySelector(`[data-testid="project-form-${n}"]`);
        return !f || f.querySelector('[role=alert]');
      }, name).catch(() => fail(`saving project ${name} got no answer within ${timeout} ms`));
      if (await form.count()) fail(`saving project ${name} failed: ${(await form.locator('[role=alert]').first().innerText()).trim()}`);
      page.off('request', countPut);
      if (puts !== 1) fail(`saving project ${name} sent ${puts} PUTs, expected 1`);
      await page.waitForFunction(([n, a]) => {
        const d = document.querySelector(`[data-testid="project-default-${n}"]`);
        return d && d.textContent.trim() === a;
      }, [name, alias]).catch(async () => fail(`after saving, project ${name}'s default shows ${await shown()}, not ${alias}`));
      // The budget setting on the card, and its status among the card's budgets.
      const budgetShown = () => page.locator(`[data-testid="project-budget-setting-${name}"]`).innerText().then((t) => t.replace(/\s+/g, ' ').trim());
      const wantBudget = '$25 / month';
      await page.waitForFunction(([n, w]) => {
        const b = document.querySelector(`[data-testid="project-budget-setting-${n}"]`);
        return b && b.textContent.includes(w);
      }, [name, wantBudget]).catch(async () => fail(`after saving, project ${name}'s card says "${await budgetShown().catch(() => 'nothing')}", not a budget of ${wantBudget}`));
      await page.locator(`[data-testid="project-card-${name}"] [data-testid="project-budget-${name} (project)"]`).waitFor()
        .catch(() => fail(`after saving, project ${name}'s card lists no budget "${name} (project)"`));
      out.project_saved_note = await page.locator('[data-testid=project-saved]').innerText().catch(() => null);
      await page.reload();
      await waitFor('projects', `[data-testid="project-card-${name}"]`);
      const after = await shown();
      if (after !== alias) fail(`after saving project ${name}'s default as ${alias} and reloading, the list shows ${after}`);
      out.project_budget = await budgetShown();
      if (!out.project_budget.includes(wantBudget)) fail(`after saving project ${name}'s budget and reloading, its card says "${out.project_budget}"`);
      // The engine has it.
      const listed = await page.evaluate(async () => {
        const r = await fetch('/admin/api/projects', { headers: { accept: 'application/json' } });
        if (!r.ok) throw new Error(`GET /admin/api/projects answered ${r.status}`);
        return r.json();
      });
      const engineBudget = (listed.projects || []).find((p) => p.name === name)?.budget;
      if (!engineBudget || engineBudget.usd !== 25 || engineBudget.period !== 'month' || engineBudget.hard_limit_usd != null) {
        fail(`after saving, the engine has project ${name}'s budget as ${JSON.stringify(engineBudget)}, not $25 per month without a hard limit`);
      }
      out.project_budget_usd = engineBudget.usd;
      out.project_budget_period = engineBudget.period;
      const file = join(shots, 'projects-edited-1280x800.png');
      await page.screenshot({ path: file, fullPage: true });
      out.screenshots.push(file);
      out.project_default = `${name}:${alias}`;
      log(`projects: ${name}'s default ${out.project_default_before} -> ${alias}, ${out.project_budget}; bad quota refused: ${out.project_quota_error}; budget without amount refused: ${out.project_budget_error}`);
      check();
    }

    // GPU: unload a model Ollama holds (E2E_UNLOAD=model).
    const unloadModel = process.env.E2E_UNLOAD;
    if (unloadModel) {
      await page.goto(`${base}/ui/gpu`);
      const button = page.locator(`[data-testid="unload-${unloadModel}"]`);
      await button.waitFor().catch(() => fail(`the GPU page lists no loaded model ${unloadModel} with an Unload button`));
      await button.click();
      await page.locator('text=Unloaded').first().waitFor().catch(() => fail(`unloading ${unloadModel} did not say "Unloaded"`));
      out.unloaded = unloadModel;
      log(`gpu: unloaded ${unloadModel}`);
      check();
    }

    // Settings: reload the config file.
    await page.goto(`${base}/ui/settings`);
    await waitFor('settings', '[data-testid=config-facts]');
    await page.locator('[data-testid=reload]').click();
    await page.locator('[data-testid=reload-done], [data-testid=reload-error]').first().waitFor()
      .catch(() => fail('"Reload config" gave no answer'));
    if (await page.locator('[data-testid=reload-error]').count()) fail(`reloading the config failed: ${await page.locator('[data-testid=reload-error]').innerText()}`);
    out.reloaded = true;
    log('settings: config reloaded');
    check();

    // Settings, "Desktop app" (where the page has it): mute "Provider down / recovered" with a
    // click, then show it again from the keyboard; the engine has each state.
    if (await page.locator('[data-testid=desktop-prefs]').count()) {
      const box = page.locator('[data-testid=pref-provider]');
      await box.waitFor().catch(async () => fail(`the Settings page's "Desktop app" section shows no "Provider down / recovered" checkbox: ${(await page.locator('[data-testid=desktop-prefs]').innerText()).replace(/\s+/g, ' ')}`));
      const label = (await page.locator('label[for=pref-provider]').innerText()).trim();
      if (label !== 'Provider down / recovered') fail(`the provider notification checkbox is labelled "${label}"`);
      const engine = () => page.evaluate(async () => {
        const r = await fetch('/admin/api/preferences', { headers: { accept: 'application/json' } });
        if (!r.ok) throw new Error(`GET /admin/api/preferences answered ${r.status}`);
        return r.json();
      });
      const saved = async (want, how) => {
        const note = page.locator('[data-testid=pref-provider-status]');
        const text = want ? 'Shown' : 'Muted';
        await page.waitForFunction((t) => {
          const n = document.querySelector('[data-testid=pref-provider-status]');
          return n && (n.textContent.trim() === t || n.getAttribute('role') === 'alert');
        }, text).catch(async () => fail(`${how} the provider notification checkbox got no answer (note: ${await note.innerText()})`));
        if ((await note.getAttribute('role')) === 'alert') fail(`${how} the provider notification checkbox failed: ${await note.innerText()}`);
        if ((await box.isChecked()) !== want) fail(`after ${how} the provider notification checkbox, it is ${want ? 'not ' : ''}checked`);
        const p = await engine();
        if (p.notifications?.provider !== want) fail(`after ${how} the provider notification checkbox, the engine has notifications.provider = ${p.notifications?.provider}`);
        return p;
      };
      if (!(await box.isChecked())) fail('the provider notification checkbox starts unchecked, though notifications are shown by default');
      await box.uncheck();
      const muted = await saved(false, 'unchecking');
      for (const other of ['budget_threshold', 'budget_limit', 'model_load', 'on_down']) {
        if (muted.notifications?.[other] !== true) fail(`unchecking "Provider down / recovered" changed notifications.${other} to ${muted.notifications?.[other]}`);
      }
      out.prefs_autostart = muted.autostart ?? null;
      if (muted.autostart == null && await page.locator('[data-testid=autostart-unset]').count() !== 1) {
        fail('start at login was never chosen, but the Settings page does not say "not chosen yet"');
      }
      const file = join(shots, 'settings-desktop-1280x800.png');
      await page.locator('[data-testid=desktop-prefs]').scrollIntoViewIfNeeded();
      await page.waitForTimeout(150);
      await page.screenshot({ path: file });
      out.screenshots.push(file);
      // Back on, from the keyboard: the checkbox keeps the focus while it saves.
      await box.focus();
      await page.keyboard.press('Space');
      await saved(true, 'pressing Space on');
      const focused = await page.evaluate(() => document.activeElement?.getAttribute('data-testid'));
      if (focused !== 'pref-provider') fail(`after saving, the focus is on ${focused || 'nothing'}, not the provider notification checkbox`);
      out.prefs_provider_toggled = true;
      log('settings: provider notifications muted and shown again, the engine agreeing each time');
      check();
    }

    // Providers: one the test stopped shows as down.
    const down = process.env.E2E_EXPECT_DOWN;
    if (down) {
      await page.goto(`${base}/ui/providers`);
      await waitFor('providers', `[data-testid=provider-${down}]`);
      try {
        await page.locator(`[data-testid=provider-${down}] .card-head [data-state=down]`).waitFor();
      } catch {
        const card = (await page.locator(`[data-testid=provider-${down}]`).innerText()).replace(/\s+/g, ' ');
        fail(`the Providers page does not show ${down} as down: ${card}`);
      }
      if (await page.locator(`[data-testid=provider-${down}] [data-testid=uptime-bars] .bar.bad, [data-testid=provider-${down}] [data-testid=uptime-bars] .bar.warn`).count() === 0) {
        fail(`the Providers page shows no red or amber uptime bar for ${down}, whose probes fail`);
      }
      const file = join(shots, 'providers-down-1280x800.png');
      await page.screenshot({ path: file });
      out.screenshots.push(file);
      out.provider_down = down;
      log(`providers: ${down} is down`);
      check();
    }
  } finally {
    await browser.close();
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  console.error(`e2e: FAILED: ${e instanceof Failure ? e.message : e.stack || e}`);
  process.exit(1);
});
