/**
 * What a person watching a run sees: report.html rewritten at every evaluation (so a run killed
 * with SIGKILL still has one, with the lr, grad_norm, dev-loss and step-0 baseline curves), and
 * the model card in the saved model's README.md, whose numbers are the run's own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventFiles, readEventFile } from '../src/training/tensorboard.js';
import { latestCheckpoint } from '../src/training/checkpoint.js';
import { modelCard, type CardInput } from '../src/training/model-card.js';
import { parseRecipe } from '../src/recipe/index.js';
import { BIN, ROOT } from './helpers/cli.js';
import { TEST_BACKENDS } from './helpers/backends.js';

const tmp = mkdtempSync(join(tmpdir(), 'sbert-watch-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const PAIRS = join(ROOT, 'test', 'fixtures', 'recipes', 'pairs.csv');

function recipeFile(dir: string): string {
  const file = join(dir, 'r.yaml');
  writeFileSync(
    file,
    [
      'name: watched',
      'model: { base: "builtin:tiny", max_seq_length: 16 }',
      `data: { train: "${PAIRS}", dev: "${PAIRS}", test: "${PAIRS}", score_scale: [0, 5] }`,
      'optimizer: { lr: 0.002 }',
      'training: { batch_size: 4, epochs: 4, log_every: 1, checkpoint_every: 2, seed: 7 }',
      'evaluation: { every_steps: 2, keep_best: false }',
      `output: { dir: "${join(dir, 'run')}" }`,
    ].join('\n') + '\n',
  );
  return file;
}

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Run the CLI; `until` is polled every 50 ms and, once true, the process gets SIGKILL. */
function cli(args: string[], env: Record<string, string>, until?: () => boolean): Promise<Exit> {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, SBERT_NO_PROGRESS: '1', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const timer = until ? setInterval(() => until() && child.kill('SIGKILL'), 50) : undefined;
  const limit = setTimeout(() => child.kill('SIGKILL'), 150_000);
  return new Promise((resolve) =>
    child.on('close', (code, signal) => {
      clearInterval(timer);
      clearTimeout(limit);
      resolve({ code, signal, stdout, stderr });
    }),
  );
}

const rows = (run: string) =>
  readFileSync(join(run, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, number | string>);

/** The report's history as report.json holds it (null while it is missing or half-written). */
function reportedEvals(run: string): number[] | null {
  try {
    return (JSON.parse(readFileSync(join(run, 'report.json'), 'utf8')) as { history: { evals: Array<{ step: number }> } }).history.evals.map((e) => e.step);
  } catch {
    return null;
  }
}

// The kill and the resume on each backend: each engine's run, checkpoint and evaluations feed the
// report, the event files and the card.
for (const backend of TEST_BACKENDS) {
  const dir = mkdtempSync(join(tmp, `kill-${backend}-`));
  const run = join(dir, 'run');

  test(`a run killed (SIGKILL) after its first evaluation has a report.html with lr, grad_norm, dev loss and the step-0 baseline (${backend})`, async () => {
    // Killed once the step-2 evaluation is reported, its checkpoint complete and step 3 logged: the
    // resume below continues from step 2 and logs step 3 again, which TensorBoard must not see twice.
    const step3 = () => {
      try {
        return rows(run).some((r) => r.type === 'train' && r.step === 3);
      } catch {
        return false; // not there yet, or a line being written
      }
    };
    const killed = await cli([recipeFile(dir), '--backend', backend], { SBERT_TEST_STEP_DELAY_MS: '300' }, () => (reportedEvals(run) ?? []).includes(2) && latestCheckpoint(join(run, 'checkpoints')) !== null && step3());
    assert.equal(killed.signal, 'SIGKILL', `the run ended by itself before it could be killed:\n${killed.stderr}`);
    assert.ok(!existsSync(join(run, 'model')), 'killed before the model was saved');
    assert.equal(latestCheckpoint(join(run, 'checkpoints'))!.step, 2);
    const evals = reportedEvals(run)!;
    assert.deepEqual(evals.slice(0, 2), [0, 2], 'the baseline and the first evaluation');
    const html = readFileSync(join(run, 'report.html'), 'utf8');
    for (const title of ['Training loss', 'Learning rate', 'Gradient norm', 'Evaluation (step 0: before training)', 'Dev loss (step 0: before training)']) {
      assert.ok(html.includes(title), `report.html shows '${title}'`);
    }
    assert.match(html, /status<\/b>: training \(step \d+ of 8;/);
    assert.ok(html.includes('builtin:tiny (before training)') && html.includes('>step 2<'), 'tables: the base model and the latest evaluation');
    // the eval rows the report drew are metrics.jsonl's, the baseline among them
    const logged = rows(run).filter((r) => r.type === 'eval');
    assert.equal(logged[0].step, 0);
    const json = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8')) as { history: { evals: Array<{ step: number; metrics: Record<string, number> }> } };
    assert.equal(json.history.evals[0].metrics.spearman_cosine, logged[0].spearman_cosine);
    // TensorBoard had it all as the run went: nothing waits in a buffer for a clean exit
    const [file] = eventFiles(join(run, 'tensorboard'));
    const tags = new Set(readEventFile(file).events.flatMap((e) => (e.values ?? []).map((v) => `${e.step} ${v.tag}`)));
    for (const want of ['0 eval/spearman_cosine', '1 train/loss', '2 train/grad_norm', '2 eval/dev_loss', '3 train/lr']) assert.ok(tags.has(want), `the killed run's event file holds ${want}`);
  });

  test(`--resume finishes the run: TensorBoard holds each (step, tag) once across both event files, and the model card has the run's numbers (${backend})`, async () => {
    const done = await cli([join(dir, 'r.yaml'), '--resume', '--backend', backend], {});
    assert.equal(done.code, 0, done.stderr);
    const files = eventFiles(join(run, 'tensorboard'));
    assert.equal(files.length, 2, 'one event file per process start');
    const seen = new Map<string, number>();
    for (const f of files) {
      const { events, problem } = readEventFile(f);
      assert.equal(problem, null, f);
      for (const e of events) for (const v of e.values ?? []) seen.set(`${e.step} ${v.tag}`, (seen.get(`${e.step} ${v.tag}`) ?? 0) + 1);
    }
    assert.deepEqual([...seen].filter(([, n]) => n > 1), [], 'no step logged twice');
    for (let s = 1; s <= 8; s++) assert.ok(seen.has(`${s} train/loss`), `train/loss at step ${s}`);
    for (const s of [0, 2, 4, 6, 8]) assert.ok(seen.has(`${s} eval/spearman_cosine`), `eval at step ${s}`);

    const card = readFileSync(join(run, 'model', 'README.md'), 'utf8');
    const evals = rows(run).filter((r) => r.type === 'eval');
    const first = evals[0];
    const last = evals.at(-1)!;
    assert.equal(first.step, 0);
    assert.equal(last.step, 8, 'keep_best false: the saved model is the last one, evaluated at step 8');
    const f4 = (v: number | string) => (v as number).toFixed(4);
    const devTable = card.slice(card.indexOf('### Dev (8 examples)'), card.indexOf('### Test'));
    for (const k of ['pearson_cosine', 'spearman_cosine', 'dev_loss']) {
      const b = k === 'spearman_cosine' ? '\\*\\*' : '';
      assert.match(devTable, new RegExp(`\\| ${b}${k}${b} \\| ${f4(first[k])} \\| ${b}${f4(last[k])}${b} \\|`), `dev ${k}: before = the step-0 row, after = the step-8 row`);
    }
    const report = JSON.parse(readFileSync(join(run, 'report.json'), 'utf8')) as { models: Array<{ model: string; results: Array<{ name: string; metrics: Record<string, number> }> }> };
    const testOf = (model: string) => report.models.find((m) => m.model === model)!.results.find((r) => r.name === 'test')!.metrics;
    const testTable = card.slice(card.indexOf('### Test (8 examples)'));
    assert.match(testTable, new RegExp(`\\| pearson_cosine \\| ${f4(testOf('builtin:tiny (before training)').pearson_cosine)} \\| ${f4(testOf('tuned').pearson_cosine)} \\|`));
    assert.match(done.stdout, new RegExp(`dev spearman_cosine: ${f4(first.spearman_cosine)} before, ${f4(last.spearman_cosine)} after`), 'the CLI says the same');
    // data, loss, hyperparameters, versions, usage, citation
    assert.match(card, /^---\nlibrary_name: sentence-transformers\n/);
    assert.match(card, /\| train \| `pairs\.csv` \| 8 \| `[0-9a-f]{16}…` \|/);
    assert.match(card, /Columns: `sentence1`, `sentence2`, `score`/);
    assert.match(card, /\| A man is playing a guitar\. \| A man plays the guitar\. \| 0\.96 \|/, 'sample rows with rescaled scores');
    assert.match(card, /`cosine_mse` \(sentence-transformers `CosineSimilarityLoss`\)/);
    assert.match(card, /\| `optimizer\.lr` \| `0\.002` \|/);
    assert.match(card, /\| `training\.batch_size` \| `4` \|/);
    assert.match(card, /\| steps run \| 8 \|/);
    assert.match(card, /- TensorFlow\.js \(tfjs-core\): \d+\.\d+\.\d+/);
    assert.match(card, /sbert-train export onnx --model .* --out /);
    assert.match(card, /pipeline\('feature-extraction', 'this-folder-onnx'\)/);
    assert.match(card, /SentenceTransformer\("path\/to\/this\/folder"\)/);
    assert.match(card, /reimers-2019-sentence-bert/);
    const trainingLogs = card.slice(card.indexOf('### Training Logs'));
    for (const e of evals) assert.ok(trainingLogs.includes(`| ${e.step} | ${f4(e.spearman_cosine)} | ${f4(e.dev_loss)} |`), `training log row for step ${e.step}`);
  });
}

test('the card: transformers.js cannot pool max or apply a Dense layer, and says so instead of a wrong snippet; a hub base becomes base_model', () => {
  const recipe = parseRecipe({ model: { base: 'sentence-transformers/all-MiniLM-L6-v2' }, data: { train: 'pairs.csv', score_scale: [0, 5] }, loss: { name: 'cosent' }, output: { dir: join(tmp, 'x') } }, { baseDir: join(ROOT, 'test', 'fixtures', 'recipes') });
  const input: CardInput = {
    recipe,
    data: { train: [{ texts: ['a', 'b'], label: 0.5 }], dev: null, test: null, fingerprints: { train: { file: '/home/me/secret/pairs.csv', rows: 1, sha256: 'ab'.repeat(32) } } },
    loss: { name: 'cosent', params: { scale: 20 } },
    model: { architecture: 'bert', dim: 64, maxSeqLength: 32, pooling: ['max'], dense: 1, normalize: true },
    training: { steps: 3, totalSteps: 3, warmupSteps: 0, best: null, stoppedEarly: false },
    evals: [],
    before: { dev: null, test: null },
    after: { dev: null, test: null },
    versions: { 'sbert-train': '0.0.0' },
  };
  const card = modelCard(input);
  assert.match(card, /^---\nbase_model: sentence-transformers\/all-MiniLM-L6-v2\n/);
  assert.ok(!/pooling: '/.test(card), 'no transformers.js pooling option for max pooling');
  assert.match(card, /does not reproduce this model's max pooling and Dense layer/);
  assert.match(card, /"scale": 20/);
  assert.match(card, /kexuefm-8847/, 'the CoSENT citation');
  assert.match(card, /No dev or test set was given/);
  assert.ok(!card.includes('/home/me/secret'), 'no folders of the training machine');
});
