/**
 * Reports: report.json / report.md / report.html from evaluation results, training history and
 * a scatter; values and layout checked, HTML self-contained (inline SVG, no scripts, no
 * network) and escaped.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeReport, type ReportData } from '../src/evaluation/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-report-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

const result = (spearman: number) => ({
  name: 'stsb-test',
  primaryMetric: 'stsb-test_spearman_cosine',
  metrics: { 'stsb-test_pearson_cosine': spearman - 0.01, 'stsb-test_spearman_cosine': spearman, 'stsb-test_pearson_dot': NaN },
});

const data: ReportData = {
  title: 'STS <benchmark> & friends',
  models: [
    { model: 'builtin:tiny', results: [result(0.12345)] },
    { model: 'runs/<tuned>', results: [result(0.81234)] },
  ],
  history: {
    loss: Array.from({ length: 20 }, (_, i) => ({ step: (i + 1) * 10, loss: 2 / (i + 1) })),
    evals: [
      { step: 100, metrics: { 'stsb-test_spearman_cosine': 0.5, 'stsb-test_pearson_cosine': 0.48 } },
      { step: 200, metrics: { 'stsb-test_spearman_cosine': 0.81234, 'stsb-test_pearson_cosine': 0.8 } },
    ],
  },
  scatter: { gold: [0, 1, 2, 3, 4, 5], predicted: [0.1, 0.2, 0.4, 0.5, 0.7, 0.9], label: 'tuned' },
  meta: { dataset: 'stsb-test', pairs: 1379 },
};

test('writeReport writes json, md and html with the numbers side by side', async () => {
  const dir = join(tmp, 'r1');
  const paths = await writeReport(dir, data);
  assert.deepEqual(readdirSync(dir).sort(), ['report.html', 'report.json', 'report.md'], 'no temp files left behind');

  const json = JSON.parse(readFileSync(paths.json, 'utf8'));
  assert.equal(json.title, data.title);
  assert.equal(json.models[1].results[0].metrics['stsb-test_spearman_cosine'], 0.81234);
  assert.equal(json.models[0].results[0].metrics['stsb-test_pearson_dot'], null, 'NaN stored as null');
  assert.equal(json.history.loss.length, 20);
  assert.ok(!Number.isNaN(Date.parse(json.generatedAt)));

  const md = readFileSync(paths.md, 'utf8');
  assert.match(md, /^# STS <benchmark> & friends\n/);
  assert.match(md, /\| Metric \| builtin:tiny \| runs\/<tuned> \|/);
  assert.match(md, /\| \*\*spearman_cosine\*\* \| \*\*0\.1235\*\* \| \*\*0\.8123\*\* \|/);
  assert.match(md, /\| pearson_cosine \| 0\.1135 \| 0\.8023 \|/);
  assert.match(md, /\| pearson_dot \| n\/a \| n\/a \|/);
  assert.match(md, /final loss 0\.1000 at step 200/);

  const html = readFileSync(paths.html, 'utf8');
  assert.ok(html.includes('<title>STS &lt;benchmark&gt; &amp; friends</title>'));
  assert.ok(html.includes('runs/&lt;tuned&gt;') && !html.includes('runs/<tuned>'), 'model names escaped');
  assert.ok(!/<script/i.test(html), 'no scripts');
  const withoutNs = html.replace(/xmlns(:xlink)?="[^"]*"/g, '');
  assert.ok(!/(src|href)="https?:/.test(withoutNs), 'no network resources');
  // bar chart (2 models), loss curve, eval curve, scatter
  assert.equal((html.match(/<svg /g) ?? []).length, 4);
  assert.ok(html.includes('Training loss') && html.includes('pearson 0.99'), 'chart titles');
  assert.ok(html.includes('class="primary"'));
});

test('a report without history or scatter has only the tables (and a bar chart for >1 model)', async () => {
  const one = await writeReport(join(tmp, 'r2'), { title: 'one model', models: [{ model: 'm', results: [result(0.5)] }] });
  const html = readFileSync(one.html, 'utf8');
  assert.equal((html.match(/<svg /g) ?? []).length, 0);
  assert.ok(!readFileSync(one.md, 'utf8').includes('## Training'));
});
