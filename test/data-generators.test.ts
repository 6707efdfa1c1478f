/**
 * The `sbert-train data` generators: ESCO pairs from a small hand-written fixture (and, when
 * ../shared is present, the real export), and the quickstart job-title set.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { escoPairs, readOccupations, writeEscoPairs } from '../src/data/esco.js';
import { heldOutTitles, JOB_FAMILIES, quickstartPairs } from '../src/data/quickstart.js';
import { loadPairs } from '../src/data/pairs.js';
import { readTable } from '../src/data/table.js';
import { DataError } from '../src/errors.js';
import { isOneLineUserError, ROOT, runCli, SHARED } from './helpers/cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sbert-gen-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Hand-written fixture in the ESCO export layout (extra columns, quoted multi-line altLabels).
const FIXTURE = [
  'conceptType,iscoGroup,preferredLabel,altLabels,description',
  'Occupation,2512,software developer,"software engineer\nprogrammer\napplication developer",Writes software.',
  'Occupation,2512,mobile app developer,"ios developer\nandroid developer",Writes apps.',
  'Occupation,2221,nurse,"registered nurse\nstaff nurse",Cares for patients.',
  'Occupation,2222,midwife,"birth attendant",Delivers babies.',
  'Occupation,8332,truck driver,"lorry driver\nhgv driver\nTruck Driver",Drives trucks.',
  'Occupation,8331,bus driver,"coach driver",Drives buses.',
].join('\n');

describe('esco pairs', () => {
  const path = join(dir, 'occupations.csv');
  writeFileSync(path, FIXTURE);

  test('reads occupations: alt labels split on newlines, the preferred label dropped from its alts', () => {
    const occ = readOccupations(path);
    assert.equal(occ.length, 6);
    assert.deepEqual(occ[0], { preferred: 'software developer', alts: ['software engineer', 'programmer', 'application developer'], group: '2512' });
    assert.deepEqual(occ[4].alts, ['lorry driver', 'hgv driver']);
  });
  test('scores: synonyms 1, same unit group 0.5, other sub-major group 0; deterministic from the seed', () => {
    const occ = readOccupations(path);
    const pairs = escoPairs(occ, { seed: 1 });
    const labelsOf = new Map<string, string>();
    for (const o of occ) for (const l of [o.preferred, ...o.alts]) labelsOf.set(l, o.group);
    const occOf = new Map<string, string>();
    for (const o of occ) for (const l of [o.preferred, ...o.alts]) occOf.set(l, o.preferred);
    // every alt label appears in exactly one score-1 pair with its preferred label
    const ones = pairs.filter((p) => p.score === 1);
    assert.equal(ones.length, 3 + 2 + 2 + 1 + 2 + 1);
    for (const p of pairs) {
      const [g1, g2] = [labelsOf.get(p.sentence1)!, labelsOf.get(p.sentence2)!];
      if (p.score === 1) assert.equal(occOf.get(p.sentence1), occOf.get(p.sentence2));
      else if (p.score === 0.5) {
        assert.equal(g1, g2);
        assert.notEqual(occOf.get(p.sentence1), occOf.get(p.sentence2));
      } else {
        assert.equal(p.score, 0);
        assert.notEqual(g1.slice(0, 2), g2.slice(0, 2), `${p.sentence1} / ${p.sentence2}`);
      }
    }
    assert.ok(pairs.some((p) => p.score === 0.5) && pairs.some((p) => p.score === 0));
    // no pair twice (either order)
    const keys = pairs.map((p) => [p.sentence1.toLowerCase(), p.sentence2.toLowerCase()].sort().join('|'));
    assert.equal(new Set(keys).size, keys.length);
    assert.deepEqual(escoPairs(occ, { seed: 1 }), pairs);
    assert.notDeepEqual(escoPairs(occ, { seed: 2 }), pairs);
    assert.equal(escoPairs(occ, { seed: 1, maxPairs: 4 }).length, 4);
  });
  test('writes a sentence1,sentence2,score csv that loadPairs reads back', () => {
    const out = join(dir, 'out', 'pairs.csv');
    const r = writeEscoPairs(path, out, { seed: 3 });
    const back = loadPairs(out);
    assert.equal(back.examples.length, r.pairs);
    assert.deepEqual(readTable(out).header, ['sentence1', 'sentence2', 'score']);
  });
  test('missing columns are all named, with the available ones', () => {
    const p = join(dir, 'wrong.csv');
    writeFileSync(p, 'preferredLabel,description\nnurse,x\n');
    assert.throws(
      () => readOccupations(p),
      (e: unknown) => e instanceof DataError && /missing columns 'altLabels', 'iscoGroup' \(available: 'preferredLabel', 'description'\)/.test(e.message),
    );
  });
  test('CLI: data esco-pairs writes the file; missing --occupations is a one-line user error', () => {
    const out = join(dir, 'cli.csv');
    const r = runCli(['data', 'esco-pairs', '--occupations', path, '--out', out, '--seed', '5', '--max-pairs', '6']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /wrote 6 pairs/);
    assert.equal(readFileSync(out, 'utf8').trim().split('\n').length, 7);
    const bad = runCli(['data', 'esco-pairs', '--out', out]);
    assert.ok(isOneLineUserError(bad), bad.stderr);
    assert.match(bad.stderr, /--occupations FILE is required/);
  });
  test('real ESCO export (skipped without ../shared)', (t) => {
    if (!SHARED) {
      t.skip('../shared is absent: no ESCO occupations file');
      return;
    }
    const occ = readOccupations(join(SHARED, 'datasets', 'esco', 'occupations_en.csv'));
    assert.ok(occ.length > 3000, `${occ.length} occupations`);
    assert.ok(occ.every((o) => /^\d{4}$/.test(o.group)));
    const pairs = escoPairs(occ, { seed: 42, maxPairs: 5000 });
    assert.equal(pairs.length, 5000);
    const share = (s: number) => pairs.filter((p) => p.score === s).length / pairs.length;
    for (const s of [0, 0.5, 1]) assert.ok(share(s) > 0.25 && share(s) < 0.42, `share of score ${s}: ${share(s)}`);
  });
});

describe('quickstart data', () => {
  test('vocabulary: 30-50 families, 5-10 titles each, no title in two families, relations resolve', () => {
    assert.ok(JOB_FAMILIES.length >= 30 && JOB_FAMILIES.length <= 50);
    const seen = new Map<string, string>();
    const ids = new Set(JOB_FAMILIES.map((f) => f.id));
    for (const f of JOB_FAMILIES) {
      assert.ok(f.titles.length >= 5 && f.titles.length <= 10, f.id);
      for (const t of f.titles) {
        assert.ok(!seen.has(t), `'${t}' in ${f.id} and ${seen.get(t)}`);
        seen.set(t, f.id);
      }
      for (const r of f.related) assert.ok(ids.has(r), `${f.id} -> ${r}`);
    }
  });
  test('sizes, score bands, deterministic; dev = half unseen titles, half unseen combinations, none in train', () => {
    const { train, dev } = quickstartPairs({ seed: 42 });
    assert.equal(train.length, 3000);
    assert.equal(dev.length, 400);
    for (const p of [...train, ...dev]) {
      const s = p.score;
      assert.ok((s >= 0 && s <= 0.1) || (s >= 0.4 && s <= 0.6) || (s >= 0.9 && s <= 1), `score ${s}`);
      assert.notEqual(p.sentence1, p.sentence2);
    }
    const { heldOut } = heldOutTitles();
    const held = new Set([...heldOut.values()].flat());
    const strip = (t: string) => t.replace(/^(senior|junior|lead|trainee|principal) /, '');
    for (const p of train) assert.ok(!held.has(strip(p.sentence1)) && !held.has(strip(p.sentence2)), `held-out title in train: ${p.sentence1} / ${p.sentence2}`);
    const withHeld = dev.filter((p) => held.has(strip(p.sentence1)) || held.has(strip(p.sentence2)));
    assert.equal(withHeld.length, 200);
    const key = (p: { sentence1: string; sentence2: string }) => [p.sentence1, p.sentence2].sort().join('|');
    const trainKeys = new Set(train.map(key));
    for (const p of dev) assert.ok(!trainKeys.has(key(p)), `dev pair also in train: ${p.sentence1} / ${p.sentence2}`);
    // all three kinds present in both splits
    for (const set of [train, dev]) {
      assert.ok(set.filter((p) => p.score >= 0.9).length > set.length * 0.25);
      assert.ok(set.filter((p) => p.score <= 0.1).length > set.length * 0.25);
      assert.ok(set.filter((p) => p.score >= 0.4 && p.score <= 0.6).length > set.length * 0.1);
    }
    assert.deepEqual(quickstartPairs({ seed: 42 }), { train, dev });
  });
  test('the committed datasets/quickstart files are what the generator writes', () => {
    const { train, dev } = quickstartPairs({ seed: 42 });
    const committed = (f: string) => loadPairs(join(ROOT, 'datasets', 'quickstart', f)).examples;
    const asExamples = (ps: typeof train) => ps.map((p) => ({ texts: [p.sentence1, p.sentence2], label: Number(p.score.toFixed(2)) }));
    assert.deepEqual(committed('train.csv'), asExamples(train));
    assert.deepEqual(committed('dev.csv'), asExamples(dev));
  });
  test('CLI: data quickstart --out writes train.csv and dev.csv', () => {
    const out = join(dir, 'qs');
    const r = runCli(['data', 'quickstart', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(readFileSync(join(out, 'train.csv'), 'utf8'), readFileSync(join(ROOT, 'datasets', 'quickstart', 'train.csv'), 'utf8'));
    assert.equal(readFileSync(join(out, 'dev.csv'), 'utf8').split('\n')[0], 'sentence1,sentence2,score');
  });
});
