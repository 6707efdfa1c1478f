/**
 * Hard-negative mining (src/data/hard-negatives.ts, `sbert-train data mine-negatives`):
 * every mined negative is checked against a brute-force reference written here (ranks,
 * margins, score bounds, exclusions), on synthetic vectors with known geometry and on ESCO job
 * titles embedded by builtin:tiny (skipped when ../shared is absent); HNSW is compared with
 * exact search; and the CLI's output trains a 2-step multiple_negatives_ranking run.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { initBackend } from '../src/backend/index.js';
import { escoPairs, readOccupations } from '../src/data/esco.js';
import { encoderEmbed, mineHardNegatives, minedRows, resolveMineOptions, type AnchorPositive, type EmbedFn, type MineOptions, type MineResult } from '../src/data/hard-negatives.js';
import { readTable } from '../src/data/table.js';
import { builtinEncoder } from '../src/models/index.js';
import { isOneLineUserError, runCli, SHARED } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbert-mine-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const key = (s: string) => s.toLowerCase().replace(/\s+/g, ' ').trim();

function cos(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    d += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return d / Math.sqrt(na * nb);
}

/**
 * What mining must return, computed the slow obvious way: for each anchor, every corpus text
 * (first spelling per key) minus its positives, itself and anchors that list it, sorted by
 * cosine; ranks rangeMin..rangeMax-1; then the score filters; `top` takes the first n.
 */
function reference(pairs: AnchorPositive[], extra: string[], vec: (t: string) => ArrayLike<number>, o: MineOptions): Map<string, { text: string; rank: number; score: number }[]> {
  const r = resolveMineOptions(o);
  const corpus = new Map<string, string>();
  for (const t of [...pairs.map((p) => p.positive), ...extra]) if (!corpus.has(key(t))) corpus.set(key(t), t);
  const out = new Map<string, { text: string; rank: number; score: number }[]>();
  for (const anchor of new Set(pairs.map((p) => key(p.anchor)))) {
    const own = pairs.filter((p) => key(p.anchor) === anchor);
    const banned = new Set([anchor, ...own.map((p) => key(p.positive)), ...pairs.filter((p) => key(p.positive) === anchor).map((p) => key(p.anchor))]);
    const a = vec(own[0].anchor);
    const minPos = Math.min(...own.map((p) => cos(a, vec(p.positive))));
    const ranked = [...corpus.entries()]
      .filter(([k]) => !banned.has(k))
      .map(([, t]) => ({ text: t, score: cos(a, vec(t)) }))
      .sort((x, y) => y.score - x.score)
      .map((c, rank) => ({ ...c, rank }));
    const kept = ranked.slice(r.rangeMin, r.rangeMax).filter((c) => {
      if (o.margin != null && c.score > minPos - o.margin) return false;
      if (o.relativeMargin != null && c.score > minPos - Math.abs(minPos) * o.relativeMargin) return false;
      if (o.maxScore != null && c.score > o.maxScore) return false;
      if (o.minScore != null && c.score < o.minScore) return false;
      return true;
    });
    out.set(anchor, kept);
  }
  return out;
}

/** Every pair's negatives are a subset of what the reference keeps; with `top`, exactly its first n. */
function checkAgainstReference(result: MineResult, pairs: AnchorPositive[], extra: string[], vec: (t: string) => ArrayLike<number>, o: MineOptions): void {
  const ref = reference(pairs, extra, vec, o);
  const n = o.numNegatives ?? 3;
  for (const p of result.pairs) {
    const kept = ref.get(key(p.anchor))!;
    const got = p.negatives.map((x) => x.text);
    assert.equal(new Set(got.map(key)).size, got.length, `duplicate negatives for '${p.anchor}': ${got}`);
    for (const neg of p.negatives) {
      const want = kept.find((c) => c.text === neg.text);
      assert.ok(want, `'${neg.text}' (rank ${neg.rank}, score ${neg.score}) is not an allowed negative of '${p.anchor}'`);
      assert.equal(neg.rank, want.rank, `rank of '${neg.text}'`);
      assert.ok(Math.abs(neg.score - want.score) < 1e-6, `score of '${neg.text}'`);
    }
    assert.equal(got.length, Math.min(n, kept.length), `'${p.anchor}': ${got.length} negatives, ${kept.length} allowed`);
    if ((o.sampling ?? 'top') === 'top') assert.deepEqual(got, kept.slice(0, n).map((c) => c.text), `'${p.anchor}': top negatives`);
  }
}

/**
 * 30 topics; in each, an anchor, 1-2 positives near it, and 6 distractors at mixed distances
 * (some closer to the anchor than its positive, so margins bite), plus case variants of
 * positives and of the anchor in the extra corpus, and one pair whose positive is another anchor.
 */
function synthetic(dim = 12, topics = 30): { pairs: AnchorPositive[]; extra: string[]; vec: (t: string) => Float32Array } {
  const rng = seedrandom('mine-synthetic');
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const vectors = new Map<string, Float32Array>();
  const near = (base: Float32Array, noise: number) => base.map((x) => x + noise * gauss());
  const pairs: AnchorPositive[] = [];
  const extra: string[] = [];
  for (let t = 0; t < topics; t++) {
    const base = Float32Array.from({ length: dim }, gauss);
    vectors.set(`anchor ${t}`, near(base, 0.1));
    vectors.set(`positive ${t}a`, near(base, 0.35));
    pairs.push({ anchor: `anchor ${t}`, positive: `positive ${t}a` });
    if (t % 3 === 0) {
      vectors.set(`positive ${t}b`, near(base, 0.5));
      pairs.push({ anchor: `anchor ${t}`, positive: `positive ${t}b` });
    }
    for (let d = 0; d < 6; d++) {
      vectors.set(`distractor ${t}.${d}`, near(base, 0.2 + 0.15 * d));
      extra.push(`distractor ${t}.${d}`);
    }
  }
  // Spelling variants: the same text as far as exclusion goes, each its own (very close) vector.
  vectors.set('Positive 0a', near(vectors.get('positive 0a')!, 0.01));
  vectors.set('  ANCHOR 1 ', near(vectors.get('anchor 1')!, 0.01));
  extra.push('Positive 0a', '  ANCHOR 1 ');
  // 'anchor 2' is a positive of 'anchor 5': neither may be the other's negative.
  pairs.push({ anchor: 'anchor 5', positive: 'anchor 2' });
  // A repeated pair (other spelling) is dropped.
  pairs.push({ anchor: 'Anchor 0', positive: 'POSITIVE 0A' });
  vectors.set('Anchor 0', vectors.get('anchor 0')!);
  vectors.set('POSITIVE 0A', vectors.get('positive 0a')!);
  return { pairs, extra, vec: (t) => vectors.get(t)! };
}

const embedOf = (vec: (t: string) => ArrayLike<number>): EmbedFn => async (texts) => texts.map(vec);

describe('synthetic corpus', () => {
  const { pairs, extra, vec } = synthetic();
  const embed = embedOf(vec);

  const cases: [string, MineOptions][] = [
    ['defaults (top 3 of ranks 0-2)', {}],
    ['range 2..8', { rangeMin: 2, rangeMax: 8, numNegatives: 4 }],
    ['absolute margin 0', { margin: 0, numNegatives: 3 }],
    ['absolute margin 0.05, range 1..20', { margin: 0.05, rangeMin: 1, rangeMax: 20 }],
    ['relative margin 0.1', { relativeMargin: 0.1, numNegatives: 5 }],
    ['max_score 0.9 and min_score 0.5', { maxScore: 0.9, minScore: 0.5, numNegatives: 4 }],
    ['random sampling with a margin', { margin: 0, sampling: 'random', numNegatives: 3, seed: 7 }],
  ];
  for (const [name, o] of cases) {
    for (const search of ['exact', 'hnsw'] as const) {
      test(`${name}, ${search}: negatives respect ranks, scores and exclusions`, async () => {
        const r = await mineHardNegatives(pairs, embed, { ...o, corpus: extra, search });
        assert.equal(r.stats.search, search);
        assert.equal(r.stats.duplicatePairs, 1);
        assert.equal(r.pairs.length, pairs.length - 1);
        checkAgainstReference(r, pairs.slice(0, -1), extra, vec, o);
      });
    }
  }

  test('each filter alone does remove candidates here (the cases above test something)', async () => {
    const filters: [keyof MineResult['stats']['skipped'], MineOptions][] = [
      ['margin', { margin: 0 }],
      ['relativeMargin', { relativeMargin: 0.1 }],
      ['maxScore', { maxScore: 0.9 }],
      ['minScore', { minScore: 0.5 }],
    ];
    for (const [name, o] of filters) {
      const r = await mineHardNegatives(pairs, embed, { corpus: extra, rangeMax: 40, ...o });
      assert.ok(r.stats.skipped[name] > 0, `${name} skipped nothing`);
      assert.equal(Object.values(r.stats.skipped).reduce((a, b) => a + b, 0), r.stats.skipped[name], `only ${name} skips`);
    }
  });

  test('positives, the anchor, their spelling variants and reverse pairs are never negatives', async () => {
    const all = 10_000; // every corpus text is a candidate
    const r = await mineHardNegatives(pairs, embed, { corpus: extra, rangeMax: all, numNegatives: all });
    const negs = (a: string) => r.pairs.find((p) => p.anchor === a)!.negatives.map((x) => key(x.text));
    // 41 positives ('anchor 2' is one), 180 distractors, '  ANCHOR 1 ' ('Positive 0a' is 'positive 0a')
    assert.equal(r.stats.corpus, 41 + 180 + 1, 'spelling variants are one entry');
    assert.deepEqual(negs('anchor 0').filter((t) => t.startsWith('positive 0')), [], 'own positives (and "Positive 0a")');
    assert.equal(negs('anchor 0').length, r.stats.corpus - 2, 'only its two positives left out');
    assert.ok(!negs('anchor 1').includes('anchor 1'), 'the anchor itself, spelled "  ANCHOR 1 "');
    assert.ok(!negs('anchor 5').includes('anchor 2'), 'its positive that is another anchor');
    assert.ok(!negs('anchor 2').includes('anchor 5'), 'the anchor that has it as a positive');
    // ...but a positive of one anchor is a fine negative for another.
    assert.ok(negs('anchor 4').includes('positive 0a'), 'other anchors\' positives are candidates');
    assert.equal(negs('anchor 4').length, r.stats.corpus - 1, 'anchor 4 loses only its positive');
  });

  test('random sampling: same seed, same negatives; another seed, other ones; top is the first n', async () => {
    const o: MineOptions = { corpus: extra, sampling: 'random', rangeMax: 30, numNegatives: 3 };
    const texts = (r: MineResult) => r.pairs.map((p) => p.negatives.map((x) => x.text).join('|'));
    const a = await mineHardNegatives(pairs, embed, { ...o, seed: 1 });
    const b = await mineHardNegatives(pairs, embed, { ...o, seed: 1 });
    const c = await mineHardNegatives(pairs, embed, { ...o, seed: 2 });
    const top = await mineHardNegatives(pairs, embed, { ...o, sampling: 'top' });
    assert.deepEqual(texts(a), texts(b));
    assert.notDeepEqual(texts(a), texts(c));
    assert.notDeepEqual(texts(a), texts(top));
    for (const p of a.pairs) assert.deepEqual(p.negatives.map((x) => x.rank), [...p.negatives.map((x) => x.rank)].sort((x, y) => x - y), 'best first');
  });

  test('bad options are one-line errors naming the option', () => {
    assert.throws(() => resolveMineOptions({ numNegatives: 0 }), /num_negatives: must be a whole number >= 1/);
    assert.throws(() => resolveMineOptions({ rangeMin: 5, rangeMax: 6, numNegatives: 3 }), /leaves 1 candidate ranks, fewer than num_negatives 3/);
    assert.throws(() => resolveMineOptions({ minScore: 0.9, maxScore: 0.5 }), /min_score 0.9 is above max_score 0.5/);
    assert.throws(() => resolveMineOptions({ relativeMargin: -1 }, (o) => `--${o}`), /--relative_margin: must be >= 0/);
    assert.deepEqual(resolveMineOptions({ numNegatives: 2, margin: 0 }).rangeMax, 20, 'ten candidates a negative with a filter, as sentence-transformers');
  });

  test('rows: triplet = one row per negative, n-tuple = pairs with all n negatives', async () => {
    const r = await mineHardNegatives(pairs, embed, { corpus: extra, margin: 0, numNegatives: 2, rangeMax: 4 });
    const t = minedRows(r.pairs, 'triplet', 2);
    assert.deepEqual(t.columns, ['anchor', 'positive', 'negative']);
    assert.equal(t.rows.length, r.pairs.reduce((s, p) => s + p.negatives.length, 0));
    const full = r.pairs.filter((p) => p.negatives.length === 2);
    assert.ok(full.length > 0 && full.length < r.pairs.length, 'some pairs short of negatives');
    const nt = minedRows(r.pairs, 'n-tuple', 2, true);
    assert.deepEqual(nt.columns, ['anchor', 'positive', 'negative_1', 'negative_2', 'positive_score', 'negative_score_1', 'negative_score_2']);
    assert.equal(nt.rows.length, full.length);
    assert.deepEqual(nt.rows[0].slice(0, 4), [full[0].anchor, full[0].positive, full[0].negatives[0].text, full[0].negatives[1].text]);
  });
});

test('HNSW finds the same negatives as exact search on 3000 random texts (recall recorded)', async () => {
  const rng = seedrandom('mine-hnsw');
  const dim = 16;
  const vectors = new Map<string, Float32Array>();
  const pairs: AnchorPositive[] = [];
  for (let i = 0; i < 3000; i++) vectors.set(`doc ${i}`, Float32Array.from({ length: dim }, () => rng() - 0.5));
  for (let i = 0; i < 300; i++) {
    vectors.set(`query ${i}`, vectors.get(`doc ${i}`)!.map((x) => x + 0.1 * (rng() - 0.5)));
    pairs.push({ anchor: `query ${i}`, positive: `doc ${i}` });
  }
  const extra = [...vectors.keys()].filter((t) => t.startsWith('doc ')).slice(300);
  const embed = embedOf((t) => vectors.get(t)!);
  const o: MineOptions = { corpus: extra, rangeMin: 3, rangeMax: 13, numNegatives: 10 };
  const exact = await mineHardNegatives(pairs, embed, { ...o, search: 'exact' });
  const hnsw = await mineHardNegatives(pairs, embed, { ...o, search: 'hnsw' });
  let found = 0;
  let same = 0;
  for (let i = 0; i < exact.pairs.length; i++) {
    const want = exact.pairs[i].negatives.map((x) => x.text);
    const got = new Set(hnsw.pairs[i].negatives.map((x) => x.text));
    found += want.filter((t) => got.has(t)).length;
    if (want.every((t) => got.has(t))) same++;
  }
  const recall = found / (exact.pairs.length * 10);
  console.log(`# mine-negatives HNSW vs exact: recall ${recall.toFixed(4)}, identical negative sets for ${same}/${exact.pairs.length} anchors`);
  assert.ok(recall >= 0.99, `recall ${recall}`);
});

const skip = SHARED ? false : 'ESCO mining test skipped: ../shared (reference data) is absent';
if (skip) console.log(`# ${skip}`);

test('ESCO job titles with builtin:tiny: negatives respect range, margin and exclude positives', { skip, timeout: 120_000 }, async () => {
  const occupations = readOccupations(join(SHARED!, 'datasets', 'esco', 'occupations_en.csv')).slice(0, 120);
  const pairs = escoPairs(occupations, { seed: 1, maxAltsPerOccupation: 4 })
    .filter((p) => p.score === 1)
    .map((p) => ({ anchor: p.sentence1, positive: p.sentence2 }));
  assert.ok(pairs.length > 200, `${pairs.length} pairs`);
  await initBackend('auto', { quiet: true });
  const encoder = builtinEncoder('tiny', 42);
  try {
    const cache = new Map<string, Float32Array>();
    const base = encoderEmbed(encoder, { batchSize: 64 });
    const embed: EmbedFn = async (texts, role) => {
      const todo = texts.filter((t) => !cache.has(t));
      (await base(todo, role)).forEach((v, i) => cache.set(todo[i], Float32Array.from(v)));
      return texts.map((t) => cache.get(t)!);
    };
    const o: MineOptions = { rangeMin: 2, rangeMax: 25, margin: 0.001, numNegatives: 3 };
    const r = await mineHardNegatives(pairs, embed, o);
    assert.equal(r.stats.search, 'exact');
    assert.ok(r.stats.skipped.margin > 0, 'the margin removed candidates');
    checkAgainstReference(r, pairs, [], (t) => cache.get(t)!, o);
    // No negative is a synonym the pairs give for the anchor's occupation.
    const positivesOf = new Map<string, Set<string>>();
    for (const p of pairs) (positivesOf.get(p.anchor) ?? positivesOf.set(p.anchor, new Set()).get(p.anchor)!).add(key(p.positive));
    for (const p of r.pairs) for (const n of p.negatives) assert.ok(!positivesOf.get(p.anchor)!.has(key(n.text)) && key(n.text) !== key(p.anchor), `'${n.text}' for '${p.anchor}'`);
  } finally {
    encoder.dispose();
  }
});

describe('CLI', () => {
  const pairsCsv = join(dir, 'pairs.csv');
  const rows = ['sentence1,sentence2,score'];
  const jobs = ['nurse', 'truck driver', 'software developer', 'chef', 'teacher', 'plumber', 'electrician', 'accountant', 'pilot', 'baker', 'welder', 'farmer'];
  jobs.forEach((j, i) => rows.push(`${j},senior ${j},1`, `${j},${jobs[(i + 1) % jobs.length]},0`));
  writeFileSync(pairsCsv, rows.join('\n') + '\n');
  const out = join(dir, 'triplets.csv');

  test('mines triplets that a multiple_negatives_ranking recipe trains on', { timeout: 120_000 }, () => {
    const r = runCli(['data', 'mine-negatives', '--model', 'builtin:tiny', '--input', pairsCsv, '--positive-threshold', '1', '--out', out, '--num-negatives', '2', '--range-max', '6', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /search: exact \(12 anchors x 12 texts <= 25M scores/);
    assert.match(r.stdout, /wrote 24 triplet rows for 12 pairs \(12 anchors\)/);
    const table = readTable(out);
    assert.deepEqual(table.header, ['anchor', 'positive', 'negative']);
    for (const row of table.rows) {
      const [a, p, n] = row.cells as string[];
      assert.equal(p, `senior ${a}`);
      assert.notEqual(n, p);
    }
    const recipe = join(dir, 'mnrl.yaml');
    writeFileSync(
      recipe,
      [
        'model: { base: "builtin:tiny", max_seq_length: 16 }',
        `data: { train: "${out}", columns: { texts: [anchor, positive, negative], label: null } }`,
        'loss: { name: multiple_negatives_ranking }',
        'training: { batch_size: 4, epochs: 1, max_steps: 2, seed: 3, log_every: 1 }',
        `output: { dir: "${join(dir, 'run')}" }`,
      ].join('\n') + '\n',
    );
    const t = runCli([recipe, '--backend', 'cpu']);
    assert.equal(t.code, 0, t.stderr);
    const metrics = readFileSync(join(dir, 'run', 'metrics.jsonl'), 'utf8');
    assert.match(metrics, /"step":2/);
  });

  test('jsonl n-tuple output with scores, from anchor,positive columns (and --force replaces)', { timeout: 60_000 }, () => {
    const input = join(dir, 'ap.jsonl');
    writeFileSync(input, jobs.map((j) => JSON.stringify({ anchor: j, positive: `senior ${j}` })).join('\n') + '\n');
    const jsonl = join(dir, 'tuples.jsonl');
    writeFileSync(jsonl, 'old\n');
    const r = runCli(['data', 'mine-negatives', '--model', 'builtin:tiny', '--input', input, '--out', jsonl, '--force', '--output-format', 'n-tuple', '--num-negatives', '2', '--scores', '--hnsw', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /search: hnsw \(as asked\)/);
    const rows = readFileSync(jsonl, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, string | number>);
    assert.equal(rows.length, jobs.length);
    for (const row of rows) {
      assert.deepEqual(Object.keys(row), ['anchor', 'positive', 'negative_1', 'negative_2', 'positive_score', 'negative_score_1', 'negative_score_2']);
      assert.ok((row.negative_score_1 as number) >= (row.negative_score_2 as number), 'best first');
      assert.ok(![row.anchor, row.positive].includes(row.negative_1), `negative of ${row.anchor}`);
    }
  });

  test('an n-tuple file mined with --num-negatives 3 trains a 2-step multiple_negatives_ranking run on all 5 columns', { timeout: 120_000 }, () => {
    const tuples = join(dir, 'tuples3.csv');
    const r = runCli(['data', 'mine-negatives', '--model', 'builtin:tiny', '--input', pairsCsv, '--positive-threshold', '1', '--out', tuples, '--output-format', 'n-tuple', '--num-negatives', '3', '--backend', 'cpu']);
    assert.equal(r.code, 0, r.stderr);
    const table = readTable(tuples);
    assert.deepEqual(table.header, ['anchor', 'positive', 'negative_1', 'negative_2', 'negative_3']);
    assert.equal(table.rows.length, jobs.length);
    // The same run on (anchor, positive, negative_1) and on all five columns: the extra negatives are candidates, so the first loss is larger.
    // Every negative here is another pair's positive, so no_duplicates would keep hardly two rows together: off, the batches are the same in both runs.
    const firstLoss = (texts: string[], name: string): number => {
      const recipe = join(dir, `${name}.yaml`);
      writeFileSync(
        recipe,
        [
          'model: { base: "builtin:tiny", max_seq_length: 16 }',
          `data: { train: "${tuples}", columns: { texts: [${texts.join(', ')}], label: null } }`,
          'loss: { name: multiple_negatives_ranking }',
          'training: { batch_size: 2, epochs: 1, max_steps: 2, seed: 3, log_every: 1, shuffle: false, no_duplicates: false }',
          `output: { dir: "${join(dir, name)}" }`,
        ].join('\n') + '\n',
      );
      const t = runCli([recipe, '--backend', 'cpu']);
      assert.equal(t.code, 0, t.stderr);
      const steps = readFileSync(join(dir, name, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { step?: number; loss?: number })
        .filter((m) => typeof m.loss === 'number');
      assert.deepEqual(
        steps.map((m) => m.step),
        [1, 2],
      );
      return steps[0].loss!;
    };
    const five = firstLoss(['anchor', 'positive', 'negative_1', 'negative_2', 'negative_3'], 'run-ntuple');
    const three = firstLoss(['anchor', 'positive', 'negative_1'], 'run-triplet');
    assert.ok(five > three + 1e-3, `5 columns: first loss ${five}, 3 columns: ${three} (more candidates, a larger cross-entropy)`);
  });

  test('refuses to overwrite --out without --force, a scored file without --positive-threshold, and bad flags', { timeout: 60_000 }, () => {
    const again = runCli(['data', 'mine-negatives', '--model', 'builtin:tiny', '--input', pairsCsv, '--positive-threshold', '1', '--out', out]);
    assert.ok(isOneLineUserError(again), again.stderr);
    assert.match(again.stderr, /exists; pass --force to replace it/);
    const scored = runCli(['data', 'mine-negatives', '--model', 'builtin:tiny', '--input', pairsCsv, '--out', join(dir, 'x.csv')]);
    assert.ok(isOneLineUserError(scored), scored.stderr);
    assert.match(scored.stderr, /has a 'score' column.*--positive-threshold/);
    const range = runCli(['data', 'mine-negatives', '--model', 'builtin:tiny', '--input', pairsCsv, '--out', join(dir, 'x.csv'), '--range-min', '4', '--range-max', '5', '--num-negatives', '2']);
    assert.ok(isOneLineUserError(range), range.stderr);
    assert.match(range.stderr, /--range-max 5 - --range-min 4 leaves 1 candidate ranks, fewer than --num-negatives 2/);
  });
});

test('encoderEmbed: a model with prompts embeds anchors with its query prompt and the corpus with its document prompt', async () => {
  const seen: { texts: string[]; prompt?: string }[] = [];
  const fake = (prompts?: Record<string, string>) => ({
    ...(prompts ? { prompts: { prompts, defaultPromptName: null }, promptFor: (o: { prompt?: string }) => o.prompt ?? '' } : {}),
    encode: async (texts: string[], o: { prompt?: string } = {}) => {
      seen.push({ texts, prompt: o.prompt });
      return texts.map(() => Float32Array.of(1, 0));
    },
  });
  const embed = encoderEmbed(fake({ query: 'query: ', passage: 'passage: ' }));
  await embed(['a'], 'query');
  await embed(['b'], 'document');
  assert.deepEqual(seen, [{ texts: ['a'], prompt: 'query: ' }, { texts: ['b'], prompt: 'passage: ' }]);
  seen.length = 0;
  await encoderEmbed(fake())(['c'], 'query');
  assert.deepEqual(seen, [{ texts: ['c'], prompt: undefined }]);
});
