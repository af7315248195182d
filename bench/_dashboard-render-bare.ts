// The bare pages bench/dashboard-render.ts measures the dashboard against: plain DOM and canvas
// code, no framework, drawing the same table and the same overlay from the same API answers.

/** The leaderboard as one table built with createElement/textContent, same columns and CSS. */
export const BARE_LEADERBOARD = (cssHref: string) => `<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="${cssHref}"></head>
<body><main><h1>Leaderboard</h1><div id="board"></div></main>
<script>
const COLS = ['#', 'name', 'model', 'encoder', 'input', 'epochs', 'lr', 'aug p', 'batch', 'seed', 'score (sDice)', 'scored on', 'private', 'status', 'backend', 'duration', 'sweep'];
const score = (v) => (v === null ? '—' : v.toFixed(4));
const lr = (v) => { const r = Number(v.toPrecision(3)); return r >= 0.01 ? String(r) : r.toExponential(); };
const dur = (ms) => { if (ms === null) return '—'; const s = Math.round(ms / 1000); return s < 60 ? s + 's' : Math.floor(s / 60) + 'm ' + String(s % 60).padStart(2, '0') + 's'; };
Promise.all([fetch('/leaderboard?limit=5000').then((r) => r.json()), fetch('/sweeps').then((r) => r.json())]).then(([lb, sw]) => {
  const closed = new Set(sw.items.filter((s) => s.closedAt).map((s) => s.id));
  const table = document.createElement('table');
  table.className = 'lb';
  const head = table.createTHead();
  const h1 = head.insertRow();
  const h2 = head.insertRow();
  h2.className = 'filters';
  for (const c of COLS) {
    const th = document.createElement('th');
    const b = document.createElement('button');
    b.className = 'sort';
    b.textContent = c;
    th.appendChild(b);
    h1.appendChild(th);
    const f = document.createElement('th');
    f.appendChild(document.createElement('input'));
    h2.appendChild(f);
  }
  const body = document.createElement('tbody');
  for (const r of lb.rows) {
    const tr = document.createElement('tr');
    const hidden = !r.privateRevealed && !(r.sweepId !== null && closed.has(r.sweepId));
    const cells = [r.rank ?? '—', null, r.model, r.encoder, r.inputMode, r.epochs, lr(r.lr), r.augmentationP, r.batchSize, r.seed, score(r.score), r.scoreSource ?? '—', hidden ? 'hidden until closed' : score(r.privateScore), null, r.backend ?? '—', dur(r.durationMs), r.sweepName ?? '—'];
    cells.forEach((v, i) => {
      const td = document.createElement('td');
      if (i === 1) {
        const a = document.createElement('a');
        a.href = '/app/experiments/' + r.experimentId;
        a.textContent = r.name ?? r.experimentId.slice(0, 8);
        td.appendChild(a);
      } else if (i === 13) {
        const s = document.createElement('span');
        s.className = 'badge status-' + r.status;
        s.textContent = r.status;
        td.appendChild(s);
      } else td.textContent = String(v);
      tr.appendChild(td);
    });
    body.appendChild(tr);
  }
  table.appendChild(body);
  document.getElementById('board').appendChild(table);
});
</script></body></html>`;

/** One slice with its overlay: three tile fetches, one pass over the pixels, putImageData. */
export const BARE_SLICES = `<!doctype html>
<html><head><meta charset="utf-8"><style>body{margin:0;background:#f7f8fa}.box{background:#000;display:flex;justify-content:center;margin:16px}canvas{width:100%;max-height:75vh;image-rendering:pixelated;object-fit:contain}</style></head>
<body><div class="box"><canvas></canvas></div>
<script>
const q = new URLSearchParams(location.search);
const vol = q.get('volume'), pred = q.get('prediction'), axis = q.get('axis') || 'xy';
const A = 0.55, TP = [46, 204, 64], FP = [255, 65, 54], FN = [0, 116, 217];
const canvas = document.querySelector('canvas');
const tile = (i, layer) => fetch('/volumes/' + vol + '/slices/' + axis + '/' + i + '?layer=' + layer + (layer === 'prediction' ? '&predictionId=' + pred : ''))
  .then((r) => Promise.all([r.arrayBuffer(), +r.headers.get('x-slice-width'), +r.headers.get('x-slice-height')]));
window.show = async (i) => {
  const [[img, w, h], [lab], [pr]] = await Promise.all([tile(i, 'image'), tile(i, 'label'), tile(i, 'prediction')]);
  const g = new Uint8Array(img), t = new Uint8Array(lab), p = new Uint8Array(pr);
  canvas.width = w; canvas.height = h;
  const ctx = canvas.getContext('2d');
  const out = ctx.createImageData(w, h), d = out.data;
  for (let k = 0; k < g.length; k++) {
    const c = t[k] && p[k] ? TP : p[k] ? FP : t[k] ? FN : null, v = g[k], o = 4 * k;
    if (c) { d[o] = v * (1 - A) + c[0] * A; d[o + 1] = v * (1 - A) + c[1] * A; d[o + 2] = v * (1 - A) + c[2] * A; }
    else { d[o] = d[o + 1] = d[o + 2] = v; }
    d[o + 3] = 255;
  }
  ctx.putImageData(out, 0, 0);
  canvas.dataset.rendered = axis + ':' + i;
};
show(+(q.get('index') || 0));
</script></body></html>`;
