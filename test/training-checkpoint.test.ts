import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { saveCheckpoint, loadCheckpoint, latestCheckpoint, listCheckpoints, checkpointName } from '../src/training/checkpoint.js';
import { snapshot, restore } from '../src/training/weights.js';

await tf.setBackend('cpu');

function files(step: number) {
  return {
    weights: Float32Array.from([step, step + 0.5, -1]),
    optimizer: Float32Array.from([0.1, 0.2]),
    best: null,
    state: { step, note: 'x' },
    recipeYaml: 'model:\n  base: builtin:tiny\n',
  };
}

test('a checkpoint round-trips every file bit for bit', () => {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
  const dir = saveCheckpoint(root, 7, files(7), 3);
  assert.equal(dir, join(root, 'step-00000007'));
  const back = loadCheckpoint(dir);
  assert.deepEqual(Array.from(back.weights), [7, 7.5, -1]);
  assert.deepEqual(Array.from(back.optimizer!), Array.from(Float32Array.from([0.1, 0.2])));
  assert.equal(back.best, null);
  assert.deepEqual(back.state, { step: 7, note: 'x' });
  assert.match(back.recipeYaml, /builtin:tiny/);
  assert.ok(existsSync(join(dir, 'manifest.json')));
});

test('only the newest K checkpoints are kept', () => {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
  for (const s of [1, 2, 3, 4]) saveCheckpoint(root, s, files(s), 2);
  assert.deepEqual(readdirSync(root).sort(), [checkpointName(3), checkpointName(4)]);
});

test('a corrupted newest checkpoint is skipped for the previous one', () => {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
  saveCheckpoint(root, 1, files(1), 3);
  const d2 = saveCheckpoint(root, 2, files(2), 3);
  const w = readFileSync(join(d2, 'weights.bin'));
  w[0] ^= 0xff;
  writeFileSync(join(d2, 'weights.bin'), w);
  assert.equal(latestCheckpoint(root)!.step, 1);
  assert.match(listCheckpoints(root)[0].problem!, /weights\.bin checksum mismatch/);
  assert.throws(() => loadCheckpoint(d2), /not valid/);
});

test('a save that fails before the manifest leaves no checkpoint folder and no temp; a crash\'s stale temp is cleaned next time', () => {
  const root = mkdtempSync(join(tmpdir(), 'ckpt-'));
  saveCheckpoint(root, 1, files(1), 3);
  assert.throws(() =>
    saveCheckpoint(root, 2, files(2), 3, {
      beforeManifest: () => {
        throw new Error('simulated failure');
      },
    }),
  );
  assert.equal(latestCheckpoint(root)!.step, 1);
  assert.deepEqual(readdirSync(root), ['step-00000001'], 'the failed save removed its temp folder');
  // A process killed mid-save cannot clean up: its half-written temp folder stays hidden until the next save.
  mkdirSync(join(root, '.tmp-step-00000002-deadbeef'));
  writeFileSync(join(root, '.tmp-step-00000002-deadbeef', 'weights.bin'), 'half');
  assert.equal(latestCheckpoint(root)!.step, 1);
  saveCheckpoint(root, 3, files(3), 3);
  assert.ok(!readdirSync(root).some((n) => n.startsWith('.tmp-')));
  assert.deepEqual(listCheckpoints(root).map((c) => c.step), [3, 1]);
});

test('weight snapshots restore every variable exactly and reject a mismatched model', async () => {
  const before = tf.memory().numTensors;
  const vars = new Map<string, tf.Variable>([
    ['b.bias', tf.tidy(() => tf.variable(tf.tensor1d([1, 2])))],
    ['a.weight', tf.tidy(() => tf.variable(tf.tensor2d([[0.1, 0.2], [0.3, Math.PI]])))],
  ]);
  const snap = await snapshot(vars);
  assert.deepEqual(snap.index.map((e) => e.name), ['a.weight', 'b.bias'], 'sorted by name');
  tf.tidy(() => vars.get('a.weight')!.assign(tf.zeros([2, 2])));
  restore(vars, snap);
  assert.deepEqual(Array.from(vars.get('a.weight')!.dataSync()), Array.from(Float32Array.from([0.1, 0.2, 0.3, Math.PI])));
  const other = new Map<string, tf.Variable>([['a.weight', tf.tidy(() => tf.variable(tf.zeros([3])))]]);
  assert.throws(() => restore(other, snap), /shape/);
  for (const v of [...vars.values(), ...other.values()]) v.dispose();
  assert.equal(tf.memory().numTensors, before, 'no leaked tensors');
});
