/** The progress line written when stderr is not a terminal: rate, ETA and the step's figures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, plainProgressLine } from '../src/util/progress.js';

test('durations read as s, m:ss and h:mm', () => {
  assert.equal(formatDuration(9.4), '9s');
  assert.equal(formatDuration(75), '1m15s');
  assert.equal(formatDuration(3725), '1h02m');
  assert.equal(formatDuration(-3), '0s');
});

test('the plain line has rate, ETA and the payload; a resumed run counts from where it started', () => {
  assert.equal(
    plainProgressLine('train', 'steps', 47, 94, 0, 156.7, { epoch: 1, loss: '0.1234', lr: '1.00e-03' }),
    'train: 47/94 steps (0.3/s, ETA 2m37s) | epoch 1 | loss 0.1234 | lr 1.00e-03',
  );
  // Resumed at step 40: 7 steps in 10 s, 47 left.
  assert.equal(plainProgressLine('train', 'steps', 47, 94, 40, 10), 'train: 47/94 steps (0.7/s, ETA 1m07s)');
  assert.equal(plainProgressLine('encode', 'sentences', 0, 10, 0, 1, { loss: '-' }), 'encode: 0/10 sentences (0.0/s)', 'no ETA before any progress; placeholders dropped');
});
