/**
 * The search page served at `/`: a query box and a result list with each hit's similarity.
 * `/?q=text&k=20` fills the box and searches on load; a search from the box puts its q and k
 * in the address.
 * Plain HTML + a small script (served as /app.js so the Content-Security-Policy can forbid
 * inline scripts); results are inserted with textContent, never innerHTML, so corpus text
 * cannot inject markup.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sbert-train search</title>
<style>
  body { font: 16px/1.45 system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  form { display: flex; gap: .5rem; }
  input[type=search] { flex: 1; font-size: 1.1rem; padding: .45rem .6rem; }
  select, button { font-size: 1rem; }
  #status { color: #666; margin: .6rem 0; min-height: 1.4em; }
  ol { padding-left: 1.6rem; }
  li { margin: .55rem 0; }
  .text { font-weight: 600; }
  .meta { color: #555; font-size: .85rem; }
  .bar { display: inline-block; height: .55rem; background: #4a7bd0; vertical-align: middle; margin-right: .4rem; border-radius: 2px; }
</style>
</head>
<body>
<h1>Semantic search</h1>
<p id="about" class="meta"></p>
<form id="form" role="search">
  <input id="q" type="search" name="q" placeholder="Type a query…" autofocus required maxlength="2000" aria-label="query">
  <select id="k" aria-label="number of results"><option>5</option><option selected>10</option><option>20</option><option>50</option></select>
  <button type="submit">Search</button>
</form>
<div id="status" role="status"></div>
<ol id="results"></ol>
<script src="/app.js"></script>
</body>
</html>
`;

export const PAGE_JS = `'use strict';
const form = document.getElementById('form');
const q = document.getElementById('q');
const k = document.getElementById('k');
const status = document.getElementById('status');
const list = document.getElementById('results');

fetch('/info').then((r) => r.json()).then((info) => {
  document.getElementById('about').textContent = info.count + ' items, ' + info.dim + '-dimensional embeddings from ' + info.model.path;
}).catch(() => {});

function show(data) {
  list.replaceChildren();
  status.textContent = data.results.length + ' results in ' + data.tookMs + ' ms';
  for (const r of data.results) {
    const li = document.createElement('li');
    li.className = 'result';
    const text = document.createElement('div');
    text.className = 'text';
    text.textContent = r.text;
    const meta = document.createElement('div');
    meta.className = 'meta';
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = Math.max(0, r.score) * 8 + 'rem';
    const score = document.createElement('span');
    score.className = 'score';
    score.textContent = r.score.toFixed(3);
    meta.append(bar, 'similarity ', score, ' \\u00b7 id ' + r.id);
    li.append(text, meta);
    list.append(li);
  }
}

async function run(query) {
  status.textContent = 'searching…';
  try {
    const res = await fetch('/search', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ q: query, k: Number(k.value) }),
    });
    const data = await res.json();
    if (!res.ok) throw new Error(data.error ? data.error.message : res.statusText);
    show(data);
  } catch (e) {
    list.replaceChildren();
    status.textContent = 'error: ' + e.message;
  }
}

form.addEventListener('submit', (ev) => {
  ev.preventDefault();
  const query = q.value.trim();
  if (!query) return;
  // The address names the search (/?q=...&k=...), so it can be bookmarked, shared or reloaded.
  const url = new URL(location.href);
  url.searchParams.set('q', query);
  url.searchParams.set('k', k.value);
  url.searchParams.delete('query');
  history.replaceState(null, '', url);
  run(query);
});

// /?q=... (or ?query=..., as the API takes) fills the box and searches at once; ?k= picks the count.
const params = new URLSearchParams(location.search);
const asked = (params.get('q') || params.get('query') || '').trim();
const askedK = params.get('k');
if (askedK && [...k.options].some((o) => o.value === askedK)) k.value = askedK;
if (asked) {
  q.value = asked;
  run(asked);
}
`;
