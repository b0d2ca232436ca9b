// app.js: the latent explorer of `vae serve` (plain JavaScript, no library).
//
// State: one cursor z (all Z values: the pad's two dimensions from the pointer, the others from the
// sliders) decoded by every model; pins A and B for the interpolation strips; the drawn image's encoding
// per model. Each model column has a pad (its test points on a cached layer, plus what is drawn over it),
// a large view of the cursor's decoding, a reconstruction of the drawing and an interpolation strip.
// Decoding keeps at most one request in flight per picture and always asks for the latest z, so moving
// the pointer fast never queues stale work.
'use strict';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f',
  '#bcbd22', '#17becf']; // matplotlib's tab10, as `vae scatter` (src/image.c)
const PAD = 420; // pad size in CSS pixels
const VIEW = 224; // the large decoded image
const STEPS = 10; // images per interpolation strip

const $ = (id) => document.getElementById(id);
const S = {
  info: null,
  models: [], // {slot, cfg, points: {n, mu, labels}, pad, ctx, layer, view, recon, strip, fetchers, drawn}
  Z: 0,
  dimX: 0,
  dimY: 1,
  range: 3,
  z: null, // Float32Array(Z): the cursor
  label: 0,
  pins: [null, null], // {kind: 'z', z} or {kind: 'test', index}
  nextPin: 0,
  drawing: false,
  drawn: false, // something is on the drawing canvas
};

// ------------------------------------------------------------------ status and errors

function status(text, isError) {
  const el = $('status');
  el.textContent = text;
  el.classList.toggle('error', !!isError);
  if (isError) console.error(text);
}

async function failure(r) {
  let msg = r.status + ' ' + r.statusText;
  try { msg += ': ' + (await r.json()).error; } catch (e) { /* not JSON */ }
  return new Error(msg);
}

async function getJSON(url) {
  const r = await fetch(url);
  if (!r.ok) throw await failure(r);
  return r.json();
}

// Fetches pictures for one target, keeping one request in flight and only the newest one waiting.
class Latest {
  constructor(onBitmap) { this.onBitmap = onBitmap; this.next = null; this.busy = false; }
  request(url, init) {
    this.next = { url, init };
    if (!this.busy) this.pump();
  }
  async pump() {
    this.busy = true;
    while (this.next) {
      const { url, init } = this.next;
      this.next = null;
      try {
        const t0 = performance.now();
        const r = await fetch(url, init);
        if (!r.ok) throw await failure(r);
        const bitmap = await createImageBitmap(await r.blob());
        this.onBitmap(bitmap, performance.now() - t0);
      } catch (e) {
        status(e.message, true);
      }
    }
    this.busy = false;
  }
}

// ------------------------------------------------------------------ latent vectors

function zQuery(zs) {
  return zs.map((v) => (Math.abs(v) < 1e-9 ? '0' : v.toPrecision(5))).join(',');
}

function decodeURL(m, zs) {
  let url = '/api/decode?z=' + zQuery(zs);
  if (m.cfg.classes > 0) url += '&label=' + S.label;
  if (m.slot === 'compare') url += '&model=compare';
  return url;
}

function testZ(m, index) {
  const Z = S.Z;
  return Array.from(m.points.mu.subarray(index * Z, index * Z + Z));
}

function pinZ(m, pin) {
  return pin.kind === 'test' ? testZ(m, pin.index) : Array.from(pin.z);
}

function randn() {
  let u = 0;
  while (u === 0) u = Math.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * Math.random());
}

// ------------------------------------------------------------------ pad geometry

function toPad(zx, zy) {
  return [(zx / S.range + 1) * PAD / 2, (1 - zy / S.range) * PAD / 2];
}

function fromPad(px, py) {
  return [(px / PAD * 2 - 1) * S.range, (1 - py / PAD * 2) * S.range];
}

function yOf(vec) { return S.dimY >= 0 ? vec[S.dimY] : 0; }

// A symmetric range covering 99.5% of every model's points in the pad's dimensions (at least the prior's
// +-3), rounded up to a half: the same for every pad, so holes in one model's space show beside the other.
function autoRange() {
  let vals = [];
  for (const m of S.models) {
    const { n, mu } = m.points;
    for (let i = 0; i < n; i++) {
      vals.push(Math.abs(mu[i * S.Z + S.dimX]));
      if (S.dimY >= 0) vals.push(Math.abs(mu[i * S.Z + S.dimY]));
    }
  }
  vals.sort((a, b) => a - b);
  const q = vals.length ? vals[Math.floor(0.995 * (vals.length - 1))] * 1.08 : 0;
  return Math.max(3, Math.ceil(q * 2) / 2);
}

// ------------------------------------------------------------------ drawing the pads

function niceStep(range) {
  const raw = (2 * range) / 8, p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const k of [1, 2, 5, 10]) if (k * p >= raw) return k * p;
  return 10 * p;
}

// Grid, axes and the test points, drawn once per change of dimensions or range.
function drawLayer(m) {
  const c = m.layer.getContext('2d');
  c.fillStyle = '#fff';
  c.fillRect(0, 0, PAD, PAD);
  const step = niceStep(S.range);
  c.font = '10px sans-serif';
  c.fillStyle = '#8a94a3';
  for (let v = Math.ceil(-S.range / step) * step; v <= S.range + 1e-9; v += step) {
    const [x, y] = toPad(v, v);
    c.strokeStyle = Math.abs(v) < 1e-9 ? '#9aa3af' : '#eceff3';
    c.beginPath(); c.moveTo(x, 0); c.lineTo(x, PAD); c.stroke();
    c.beginPath(); c.moveTo(0, y); c.lineTo(PAD, y); c.stroke();
    const t = +v.toFixed(6) + '';
    if (x > 12 && x < PAD - 12) c.fillText(t, x + 2, PAD - 3); // ticks at the very edges would overlap
    if (S.dimY >= 0 && y > 12 && y < PAD - 12) c.fillText(t, 2, y - 2);
  }
  const { n, mu, labels } = m.points;
  c.globalAlpha = n > 3000 ? 0.55 : 0.8;
  const r = n > 3000 ? 1.5 : 2.5;
  for (let i = 0; i < n; i++) {
    const [x, y] = toPad(mu[i * S.Z + S.dimX], S.dimY >= 0 ? mu[i * S.Z + S.dimY] : 0);
    if (x < -r || y < -r || x > PAD + r || y > PAD + r) continue;
    c.fillStyle = labels ? PALETTE[labels[i] % 10] : '#4b5563';
    c.fillRect(x - r, y - r, 2 * r, 2 * r);
  }
  c.globalAlpha = 1;
  m.pad.dataset.points = String(n);
}

function ring(c, x, y, r, fill, stroke) {
  c.beginPath();
  c.arc(x, y, r, 0, 2 * Math.PI);
  c.fillStyle = fill;
  c.fill();
  c.lineWidth = 2;
  c.strokeStyle = stroke;
  c.stroke();
}

function drawPin(c, m, pin, name) {
  if (!pin) return;
  const z = pinZ(m, pin);
  const [x, y] = toPad(z[S.dimX], yOf(z));
  ring(c, x, y, 6, '#fff', '#111');
  c.fillStyle = '#111';
  c.font = 'bold 12px sans-serif';
  c.fillText(name, x + 8, y - 6);
}

// The drawn image's encoding: its mean, and for a VAE ellipses at 1 and 2 standard deviations.
function drawEncoding(c, m) {
  if (!m.drawn) return;
  const { mu, logvar } = m.drawn;
  const [x, y] = toPad(mu[S.dimX], yOf(mu));
  if (!m.cfg.ae) {
    const sx = Math.exp(0.5 * logvar[S.dimX]) * PAD / 2 / S.range;
    const sy = S.dimY >= 0 ? Math.exp(0.5 * logvar[S.dimY]) * PAD / 2 / S.range : 2;
    c.strokeStyle = '#c2410c';
    for (const k of [1, 2]) {
      c.lineWidth = k === 1 ? 2 : 1;
      c.setLineDash(k === 1 ? [] : [4, 3]);
      c.beginPath();
      c.ellipse(x, y, Math.max(1, k * sx), Math.max(1, k * sy), 0, 0, 2 * Math.PI);
      c.stroke();
    }
    c.setLineDash([]);
  }
  ring(c, x, y, 5, '#c2410c', '#fff');
}

function drawPad(m) {
  const c = m.ctx;
  c.drawImage(m.layer, 0, 0);
  drawPin(c, m, S.pins[0], 'A');
  drawPin(c, m, S.pins[1], 'B');
  drawEncoding(c, m);
  const [x, y] = toPad(S.z[S.dimX], yOf(S.z));
  c.strokeStyle = 'rgba(17, 17, 17, 0.8)';
  c.lineWidth = 1;
  c.beginPath();
  c.moveTo(x - 9, y); c.lineTo(x + 9, y);
  c.moveTo(x, y - 9); c.lineTo(x, y + 9);
  c.stroke();
}

function redraw(layers) {
  for (const m of S.models) {
    if (layers) drawLayer(m);
    drawPad(m);
  }
}

// ------------------------------------------------------------------ decoding the cursor

function showBitmap(canvas, bitmap) {
  const c = canvas.getContext('2d');
  c.imageSmoothingEnabled = false;
  c.clearRect(0, 0, canvas.width, canvas.height);
  c.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  canvas.dataset.updates = String(+(canvas.dataset.updates || 0) + 1);
}

function decodeCursor() {
  const zs = Array.from(S.z);
  for (const m of S.models) m.fetchers.view.request(decodeURL(m, zs));
  const dims = S.dimY >= 0 ? `z${S.dimX} = ${S.z[S.dimX].toFixed(2)}, z${S.dimY} = ${S.z[S.dimY].toFixed(2)}`
    : `z${S.dimX} = ${S.z[S.dimX].toFixed(2)}`;
  $('readout').textContent = dims;
  redraw(false);
}

function setCursor(zx, zy) {
  S.z[S.dimX] = zx;
  if (S.dimY >= 0) S.z[S.dimY] = zy;
  decodeCursor();
}

// ------------------------------------------------------------------ pins and interpolation

// The test point nearest to pad position (px, py) within 6 pixels, on model m's pad, or -1.
function nearestTest(m, px, py) {
  let best = -1, bestD = 36;
  const { n, mu } = m.points;
  for (let i = 0; i < n; i++) {
    const [x, y] = toPad(mu[i * S.Z + S.dimX], S.dimY >= 0 ? mu[i * S.Z + S.dimY] : 0);
    const d = (x - px) * (x - px) + (y - py) * (y - py);
    if (d < bestD) { bestD = d; best = i; }
  }
  return best;
}

function describePin(pin) {
  if (!pin) return '-';
  if (pin.kind === 'test') {
    const labels = S.models[0].points.labels;
    return `test image ${pin.index}` + (labels ? ` (label ${labels[pin.index]})` : '');
  }
  return `(${Array.from(pin.z).filter((_, d) => d === S.dimX || d === S.dimY).map((v) => v.toFixed(2)).join(', ')})`;
}

function interpolate() {
  const [a, b] = S.pins;
  $('pins').textContent = `A: ${describePin(a)}   B: ${describePin(b)}`;
  redraw(false);
  if (!a || !b) return;
  for (const m of S.models) {
    const za = pinZ(m, a), zb = pinZ(m, b), zs = [];
    for (let s = 0; s < STEPS; s++) {
      const t = s / (STEPS - 1);
      for (let d = 0; d < S.Z; d++) zs.push(za[d] + t * (zb[d] - za[d]));
    }
    m.fetchers.strip.request(decodeURL(m, zs));
  }
}

function pin(p) {
  S.pins[S.nextPin] = p;
  S.nextPin = 1 - S.nextPin;
  interpolate();
}

// ------------------------------------------------------------------ the pad's pointer

function padEvents(m) {
  let down = null;
  const pos = (e) => {
    const r = m.pad.getBoundingClientRect();
    return [(e.clientX - r.left) * PAD / r.width, (e.clientY - r.top) * PAD / r.height];
  };
  m.pad.addEventListener('pointerdown', (e) => {
    down = pos(e);
    down.moved = 0;
    m.pad.setPointerCapture(e.pointerId);
    setCursor(...fromPad(...down));
  });
  m.pad.addEventListener('pointermove', (e) => {
    const p = pos(e);
    if (down) down.moved = Math.max(down.moved, Math.hypot(p[0] - down[0], p[1] - down[1]));
    setCursor(...fromPad(...p));
  });
  m.pad.addEventListener('pointerup', (e) => {
    if (down && down.moved < 4) {
      const i = m.points.n ? nearestTest(m, ...down) : -1;
      pin(i >= 0 ? { kind: 'test', index: i } : { kind: 'z', z: Float32Array.from(S.z) });
    }
    down = null;
  });
  m.pad.addEventListener('keydown', (e) => {
    const step = S.range / 50, moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1] };
    if (e.key in moves) {
      e.preventDefault();
      setCursor(S.z[S.dimX] + moves[e.key][0] * step, yOf(S.z) + moves[e.key][1] * step);
    } else if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      pin({ kind: 'z', z: Float32Array.from(S.z) });
    }
  });
}

// ------------------------------------------------------------------ drawing a digit

// The drawing as the model's input: cropped to its strokes, scaled so the longer side fills 20/28 of the
// image and shifted so its centre of mass is the image's centre (as MNIST's digits were made), grey bytes.
function drawnImage() {
  const cfg = S.models[0].cfg, H = cfg.height, W = cfg.width, C = cfg.channels;
  const src = $('draw'), sc = src.getContext('2d');
  const { data } = sc.getImageData(0, 0, src.width, src.height);
  let x0 = src.width, y0 = src.height, x1 = -1, y1 = -1;
  for (let y = 0; y < src.height; y++)
    for (let x = 0; x < src.width; x++)
      if (data[(y * src.width + x) * 4] > 16) {
        x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y);
      }
  if (x1 < 0) return null;
  const bw = x1 - x0 + 1, bh = y1 - y0 + 1, s = (Math.min(H, W) * 20 / 28) / Math.max(bw, bh);
  const tw = Math.max(1, Math.round(bw * s)), th = Math.max(1, Math.round(bh * s));
  const small = document.createElement('canvas');
  small.width = tw; small.height = th;
  const smc = small.getContext('2d', { willReadFrequently: true });
  smc.imageSmoothingQuality = 'high';
  smc.drawImage(src, x0, y0, bw, bh, 0, 0, tw, th);
  const sd = smc.getImageData(0, 0, tw, th).data;
  let mass = 0, mx = 0, my = 0;
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const v = sd[(y * tw + x) * 4];
      mass += v; mx += v * (x + 0.5); my += v * (y + 0.5);
    }
  const ox = Math.round(W / 2 - (mass ? mx / mass : tw / 2)), oy = Math.round(H / 2 - (mass ? my / mass : th / 2));
  const out = new Uint8Array(H * W * C);
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) {
      const X = x + ox, Y = y + oy;
      if (X < 0 || Y < 0 || X >= W || Y >= H) continue;
      for (let k = 0; k < C; k++) out[(Y * W + X) * C + k] = sd[(y * tw + x) * 4];
    }
  return out;
}

let encodeBusy = false, encodeAgain = false;

// Encode the drawing with every model, then show each mean on its pad and decode it.
async function encodeDrawing() {
  if (encodeBusy) { encodeAgain = true; return; }
  const img = drawnImage();
  if (!img) return;
  encodeBusy = true;
  try {
    for (const m of S.models) {
      let url = '/api/encode?';
      if (m.cfg.classes > 0) url += 'label=' + S.label + '&';
      if (m.slot === 'compare') url += 'model=compare';
      const r = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/octet-stream' }, body: img });
      if (!r.ok) throw await failure(r);
      m.drawn = await r.json();
      m.fetchers.recon.request(decodeURL(m, m.drawn.mu));
    }
    redraw(false);
    $('draw').dataset.encoded = String(+($('draw').dataset.encoded || 0) + 1);
  } catch (e) {
    status(e.message, true);
  }
  encodeBusy = false;
  if (encodeAgain) { encodeAgain = false; encodeDrawing(); }
}

function drawEvents() {
  const cv = $('draw'), c = cv.getContext('2d', { willReadFrequently: true });
  c.fillStyle = '#000';
  c.fillRect(0, 0, cv.width, cv.height);
  let last = null, lastSent = 0;
  const pos = (e) => {
    const r = cv.getBoundingClientRect();
    return [(e.clientX - r.left) * cv.width / r.width, (e.clientY - r.top) * cv.height / r.height];
  };
  const stroke = (p) => {
    c.strokeStyle = '#fff';
    c.lineWidth = cv.width / 12;
    c.lineCap = c.lineJoin = 'round';
    c.beginPath();
    c.moveTo(...(last || p));
    c.lineTo(...p);
    c.stroke();
    last = p;
  };
  cv.addEventListener('pointerdown', (e) => {
    cv.setPointerCapture(e.pointerId);
    S.drawing = true;
    last = null;
    stroke(pos(e));
  });
  cv.addEventListener('pointermove', (e) => {
    if (!S.drawing) return;
    stroke(pos(e));
    if (performance.now() - lastSent > 80) { lastSent = performance.now(); encodeDrawing(); }
  });
  const end = () => {
    if (!S.drawing) return;
    S.drawing = false;
    S.drawn = true;
    encodeDrawing();
  };
  cv.addEventListener('pointerup', end);
  cv.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', () => {
    c.fillStyle = '#000';
    c.fillRect(0, 0, cv.width, cv.height);
    S.drawn = false;
    for (const m of S.models) {
      m.drawn = null;
      m.recon.getContext('2d').clearRect(0, 0, m.recon.width, m.recon.height);
    }
    redraw(false);
  });
}

// ------------------------------------------------------------------ controls

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const ch of children) e.append(ch);
  return e;
}

// One slider per latent dimension that is not on the pad.
function buildSliders() {
  const box = $('sliders');
  box.textContent = '';
  for (let d = 0; d < S.Z; d++) {
    if (d === S.dimX || d === S.dimY) continue;
    const out = el('output', { textContent: S.z[d].toFixed(2) });
    const input = el('input', { type: 'range', min: -S.range, max: S.range, step: S.range / 200, value: S.z[d] });
    input.setAttribute('aria-label', 'z' + d);
    input.addEventListener('input', () => {
      S.z[d] = +input.value;
      out.textContent = S.z[d].toFixed(2);
      decodeCursor();
    });
    box.append(el('label', {}, 'z' + d, input, out));
  }
}

function buildDims() {
  for (const [id, key] of [['dim-x', 'dimX'], ['dim-y', 'dimY']]) {
    const sel = $(id);
    for (let d = 0; d < S.Z; d++) sel.append(el('option', { value: d, textContent: 'z' + d }));
    sel.value = S[key];
    sel.disabled = S.Z <= 2;
    sel.addEventListener('change', () => {
      const v = +sel.value, other = key === 'dimX' ? 'dimY' : 'dimX';
      if (v === S[other]) { S[other] = S[key]; $(other === 'dimX' ? 'dim-x' : 'dim-y').value = S[other]; }
      S[key] = v;
      S.range = autoRange();
      $('range').value = S.range;
      buildSliders();
      redraw(true);
      decodeCursor();
    });
  }
  if (S.Z < 2) $('dim-y').closest('label').hidden = true;
  $('range').value = S.range;
  $('range').addEventListener('change', () => {
    const v = +$('range').value;
    if (!(v > 0 && v <= S.info.max_z)) { $('range').value = S.range; return; }
    S.range = v;
    buildSliders();
    redraw(true);
  });
}

function buildLegend() {
  const labels = S.models[0].points.labels, box = $('legend');
  if (!labels) return;
  const seen = [...new Set(labels)].sort((a, b) => a - b);
  for (const k of seen) {
    const sw = el('span', { className: 'swatch' });
    sw.style.background = PALETTE[k % 10];
    box.append(el('li', {}, sw, String(k)));
  }
}

function buildLabels() {
  const K = S.models[0].cfg.classes;
  if (!K) return;
  $('label-row').hidden = false;
  const sel = $('label');
  for (let k = 0; k < K; k++) sel.append(el('option', { value: k, textContent: k }));
  sel.addEventListener('change', () => {
    S.label = +sel.value;
    decodeCursor();
    interpolate();
    if (S.drawn) encodeDrawing();
  });
}

// One column per model: its pad, the cursor's decoding, the drawing's reconstruction, the strip.
function buildColumn(m, i) {
  const name = m.cfg.ae ? 'autoencoder' : 'VAE';
  const cfg = m.cfg, scale = Math.max(1, Math.floor(VIEW / Math.max(cfg.height, cfg.width)));
  m.pad = el('canvas', { className: 'pad', width: PAD, height: PAD, tabIndex: 0 });
  m.pad.setAttribute('aria-label', name + ' latent pad');
  m.ctx = m.pad.getContext('2d');
  m.layer = el('canvas', { width: PAD, height: PAD });
  m.view = el('canvas', { className: 'view', width: cfg.width * scale, height: cfg.height * scale });
  m.recon = el('canvas', { className: 'recon', width: cfg.width * 3, height: cfg.height * 3 });
  m.strip = el('canvas', { className: 'strip', width: cfg.width * 2 * STEPS, height: cfg.height * 2 });
  m.view.id = 'view-' + i;
  m.pad.id = 'pad-' + i;
  m.fetchers = {
    view: new Latest((b, ms) => { showBitmap(m.view, b); status(`decoded in ${ms.toFixed(1)} ms`); }),
    recon: new Latest((b) => showBitmap(m.recon, b)),
    strip: new Latest((b) => showBitmap(m.strip, b)),
  };
  const caption = el('figcaption', {}, name + ' ', el('small', { textContent: cfg.path }));
  const right = el('div', {}, m.view, el('p', { className: 'caption', textContent: 'decoded at the cursor' }));
  $('pads').append(el('figure', { className: 'model' }, caption, el('div', { className: 'stack' }, m.pad, right)));
  $('recons').append(el('div', {}, m.recon, el('p', { className: 'caption', textContent: name })));
  $('strips').append(el('p', { className: 'caption', textContent: name + ': A to B' }), m.strip);
  padEvents(m);
}

function describe(cfg) {
  const net = cfg.arch === 'conv' ? 'convolutional' : [cfg.height * cfg.width * cfg.channels, ...cfg.hidden, cfg.latent].join('-');
  return `${cfg.ae ? 'autoencoder' : 'VAE'} ${net}, ${cfg.height}x${cfg.width}x${cfg.channels} images, ` +
    `latent ${cfg.latent}${cfg.classes ? `, ${cfg.classes} classes` : ''}, ${cfg.likelihood}`;
}

async function main() {
  S.info = await getJSON('/api/info');
  const slots = ['main', 'compare'];
  for (let i = 0; i < S.info.models.length; i++) {
    const p = await getJSON('/api/points' + (i ? '?model=compare' : ''));
    S.models.push({ slot: slots[i], cfg: S.info.models[i], drawn: null,
      points: { n: p.n, mu: Float32Array.from(p.mu), labels: p.labels } });
  }
  S.Z = S.models[0].cfg.latent;
  S.dimY = S.Z >= 2 ? 1 : -1;
  S.z = new Float32Array(S.Z);
  S.range = autoRange();
  $('about').textContent = S.models.map((m) => describe(m.cfg)).join('  |  ') +
    (S.info.points ? `; ${S.info.points} test images as points` : '; no --data: no points');
  S.models.forEach(buildColumn);
  buildDims();
  buildSliders();
  buildLegend();
  buildLabels();
  drawEvents();
  $('sample').addEventListener('click', () => {
    for (let d = 0; d < S.Z; d++) S.z[d] = randn();
    buildSliders();
    decodeCursor();
  });
  $('zero').addEventListener('click', () => {
    for (let d = 0; d < S.Z; d++) if (d !== S.dimX && d !== S.dimY) S.z[d] = 0;
    buildSliders();
    decodeCursor();
  });
  $('interp-tests').addEventListener('click', () => {
    const n = S.models[0].points.n, a = +$('test-a').value, b = +$('test-b').value;
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= 0 && a < n && b < n)) {
      status(n ? `test images are 0..${n - 1}` : 'no test images: start vae serve with --data', true);
      return;
    }
    S.pins = [{ kind: 'test', index: a }, { kind: 'test', index: b }];
    S.nextPin = 0;
    interpolate();
  });
  $('test-a').max = $('test-b').max = Math.max(0, S.models[0].points.n - 1);
  redraw(true);
  decodeCursor();
  interpolate();
  document.body.dataset.ready = '1';
}

main().catch((e) => status('cannot start: ' + e.message, true));
