// explorer.js: the latent explorer of `vae serve` in a real browser (tests/test_browser.sh runs it).
//
//   node tests/browser/explorer.js URL SCREENSHOT.png [--compare] [--cursor=Z1,Z2]
//
// Debian's chromium (/usr/bin/chromium), headless, driven by playwright-core (package-lock.json); no browser
// is downloaded and the profile is a fresh folder removed at the end. Checks, each printed as "ok WHAT" or
// "FAIL: WHAT" (the shell test counts them): the page starts; the test points are drawn on every pad in
// their label colours; dragging on a pad changes the decoded image, and two places decode differently; a
// stroke on the drawing canvas is encoded and its point appears on the pad; an interpolation strip and a
// prior sample are drawn; the console shows no error and no request failed. Then a screenshot, with the
// cursor at latent point (Z1, Z2) when --cursor says so.
'use strict';
const { chromium } = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [url, shot] = process.argv.slice(2);
const compare = process.argv.includes('--compare');
const cursorArg = process.argv.find((a) => a.startsWith('--cursor='));
const cursor = cursorArg ? cursorArg.slice(9).split(',').map(Number) : null;
let failed = 0;
function check(what, cond, detail) {
  if (cond) console.log('ok ' + what);
  else { failed++; console.log('FAIL: ' + what + (detail ? ' (' + detail + ')' : '')); }
}

// Pixels of a canvas near an RGB colour (each channel within tol), counted in the page.
function countColour(page, selector, rgb, tol) {
  return page.evaluate(([sel, c, t]) => {
    const cv = document.querySelector(sel);
    const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (Math.abs(d[i] - c[0]) <= t && Math.abs(d[i + 1] - c[1]) <= t && Math.abs(d[i + 2] - c[2]) <= t) n++;
    return n;
  }, [selector, rgb, tol]);
}

// Pixels of a canvas whose colour is not grey (r, g, b differ): the coloured test points.
function countColoured(page, selector) {
  return page.evaluate((sel) => {
    const cv = document.querySelector(sel);
    const d = cv.getContext('2d').getImageData(0, 0, cv.width, cv.height).data;
    let n = 0;
    for (let i = 0; i < d.length; i += 4)
      if (Math.max(d[i], d[i + 1], d[i + 2]) - Math.min(d[i], d[i + 1], d[i + 2]) > 40) n++;
    return n;
  }, selector);
}

const updates = (page, sel) => page.$eval(sel, (e) => +(e.dataset.updates || 0));
const pixels = (page, sel) => page.$eval(sel, (e) => e.toDataURL());

// Wait until the canvas has been redrawn more than `after` times and its pixels differ from `before`.
async function changed(page, sel, after, before) {
  try {
    await page.waitForFunction(([s, n, b]) => {
      const e = document.querySelector(s);
      return +(e.dataset.updates || 0) > n && e.toDataURL() !== b;
    }, [sel, after, before], { timeout: 5000 });
    return true;
  } catch (e) {
    return false;
  }
}

async function run(page) {
  await page.goto(url);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 15000 });
  check('the page starts', true);

  const pads = compare ? ['#pad-0', '#pad-1'] : ['#pad-0'];
  for (const pad of pads) {
    const n = await page.$eval(pad, (e) => +e.dataset.points);
    const coloured = await countColoured(page, pad);
    check(`${pad}: test points drawn in label colours`, n > 0 && coloured > 200, `points ${n}, coloured pixels ${coloured}`);
  }

  // drag across the pad: the decoded image follows
  const box = await (await page.$('#pad-0')).boundingBox();
  const at = (fx, fy) => [box.x + fx * box.width, box.y + fy * box.height];
  await page.mouse.move(...at(0.3, 0.3));
  await page.waitForTimeout(300);
  let u = await updates(page, '#view-0');
  const first = await pixels(page, '#view-0');
  await page.mouse.down();
  for (let i = 1; i <= 12; i++) await page.mouse.move(...at(0.3 + 0.035 * i, 0.3 + 0.035 * i));
  await page.mouse.up();
  check('dragging on the pad changes the decoded image', await changed(page, '#view-0', u, first));
  if (compare) check('the second model decodes the same point', (await updates(page, '#view-1')) > 1);

  // a stroke on the drawing canvas (a 7): encoded, its point (orange ring) appears on the pad
  const ring = [194, 65, 12];
  const before = await countColour(page, '#pad-0', ring, 24);
  const dbox = await (await page.$('#draw')).boundingBox();
  const seven = [[0.28, 0.22], [0.72, 0.22], [0.45, 0.82]];
  await page.mouse.move(dbox.x + dbox.width * seven[0][0], dbox.y + dbox.height * seven[0][1]);
  await page.mouse.down();
  for (let k = 1; k < seven.length; k++)
    for (let i = 1; i <= 8; i++) {
      const f = i / 8, [x0, y0] = seven[k - 1], [x1, y1] = seven[k];
      await page.mouse.move(dbox.x + dbox.width * (x0 + f * (x1 - x0)), dbox.y + dbox.height * (y0 + f * (y1 - y0)));
    }
  await page.mouse.up();
  let encoded = true;
  try {
    await page.waitForFunction(() => +(document.getElementById('draw').dataset.encoded || 0) > 0, null, { timeout: 5000 });
  } catch (e) {
    encoded = false;
  }
  await page.waitForTimeout(200);
  const after = await countColour(page, '#pad-0', ring, 24);
  check('a stroke is encoded and its point appears on the pad', encoded && after > before + 20, `ring pixels ${before} -> ${after}`);

  // interpolation between test images 0 and 1, and a sample from the prior
  u = await updates(page, 'canvas.strip');
  await page.click('#interp-tests');
  check('an interpolation strip is drawn', await changed(page, 'canvas.strip', u, ''));
  u = await updates(page, '#view-0');
  const beforeSample = await pixels(page, '#view-0');
  await page.click('#sample');
  check('a prior sample is decoded', await changed(page, '#view-0', u, beforeSample));
  const range = await page.evaluate(() => S.range); // the page's state (web/app.js)
  const [zx, zy] = cursor || [0.24 * range, 0.2 * range];
  await page.mouse.move(...at((zx / range + 1) / 2, (1 - zy / range) / 2));
  await page.waitForTimeout(300);
}

(async () => {
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'vae-chromium-'));
  const problems = [];
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: { width: compare ? 1480 : 1180, height: 1000 },
    });
    const page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => { if (m.type() === 'error') problems.push('console: ' + m.text()); });
    page.on('pageerror', (e) => problems.push('page error: ' + e.message));
    page.on('requestfailed', (r) => problems.push('request failed: ' + r.url()));
    await run(page);
    check('the console shows no error and no request failed', problems.length === 0, problems.join('; '));
    if (shot) await page.screenshot({ path: shot, fullPage: true });
  } catch (e) {
    check('the browser test runs to its end', false, e.message.split('\n')[0]);
  } finally {
    if (context) await context.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
})();
