/**
 * TensorBoard event files: masked CRC-32C against published vectors, TFRecord framing and the
 * Event protobuf against files TensorFlow itself wrote (test/fixtures/tensorboard, made by
 * benchmarks/peers/tensorboard_event_fixtures.py), a torn or corrupt tail, resume truncation,
 * and a tiny training run whose event files hold what metrics.jsonl holds (on each backend of
 * test/helpers/backends.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseRecipe } from '../src/recipe/index.js';
import { train } from '../src/training/index.js';
import { crc32c, frameRecord, maskedCrc32c, parseRecords } from '../src/training/tfrecord.js';
import { decodeEvent, encodeEvent, eventFiles, FILE_VERSION, readEventFile, SESSION_START, TensorBoardWriter, type TfEvent } from '../src/training/tensorboard.js';
import { ROOT } from './helpers/cli.js';
import { TEST_BACKENDS, useBackend } from './helpers/backends.js';

const FIX = join(ROOT, 'test', 'fixtures', 'tensorboard');
const tmp = mkdtempSync(join(tmpdir(), 'sbert-tb-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const f32 = (x: number) => Math.fround(x);

test('CRC-32C matches RFC 3720 B.4 and the check value; the mask is rotate-right-15 plus 0xa282ead8', () => {
  const bytes = (f: (i: number) => number, n = 32) => Uint8Array.from({ length: n }, (_, i) => f(i));
  assert.equal(crc32c(bytes(() => 0)), 0x8a9136aa, '32 bytes of zeros');
  assert.equal(crc32c(bytes(() => 0xff)), 0x62a8ab43, '32 bytes of 0xff');
  assert.equal(crc32c(bytes((i) => i)), 0x46dd794e, '32 incrementing bytes');
  assert.equal(crc32c(bytes((i) => 31 - i)), 0x113fdb5c, '32 decrementing bytes');
  // RFC 3720 B.4: an iSCSI SCSI Read (10) command PDU
  const pdu = Uint8Array.from([
    0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18, 0x28, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
  ]);
  assert.equal(crc32c(pdu), 0xd9963a56, 'iSCSI read PDU');
  assert.equal(crc32c(new TextEncoder().encode('123456789')), 0xe3069283, 'the CRC-32C check value');
  // masked = ((c >>> 15) | (c << 17)) + 0xa282ead8, by hand for the zeros vector 0x8a9136aa:
  // c >>> 15 = 0x00011522, c << 17 = 0x6d540000 (mod 2^32), so rotr15 = 0x6d551522;
  // + 0xa282ead8 = 0x10fd7fffa, mod 2^32 0x0fd7fffa
  assert.equal(maskedCrc32c(bytes(() => 0)), 0x0fd7fffa);
});

test('framing and Event bytes by hand: length, masked CRCs, wall_time/step/summary fields', () => {
  const data = encodeEvent({ wallTime: 1.5, step: 3, values: [{ tag: 'a', value: 2 }] });
  // 09 <double 1.5> | 10 03 | 2a 0a [0a 08 [0a 01 'a' | 15 <float 2>]]
  assert.equal(Buffer.from(data).toString('hex'), '09' + '000000000000f83f' + '1003' + '2a0a' + '0a08' + '0a0161' + '15' + '00000040');
  const rec = frameRecord(data);
  const v = new DataView(rec.buffer);
  assert.equal(rec.length, 8 + 4 + data.length + 4);
  assert.equal(v.getBigUint64(0, true), BigInt(data.length));
  assert.equal(v.getUint32(8, true), maskedCrc32c(rec.subarray(0, 8)));
  assert.equal(v.getUint32(12 + data.length, true), maskedCrc32c(data));
  assert.deepEqual(decodeEvent(data), { wallTime: 1.5, step: 3, values: [{ tag: 'a', value: 2, kind: 'simple_value' }] });
});

interface Expected {
  files: Record<string, Array<{ wall_time: number; step: number; file_version?: string; values?: Array<{ tag: string; simple_value?: number; tensor?: number; plugin?: string }> }>>;
}
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Expected;

test('files TensorFlow wrote: every record frames and CRCs as we compute, and reads as TensorFlow reads it', () => {
  assert.equal(Object.keys(expected.files).length, 2);
  for (const [name, want] of Object.entries(expected.files)) {
    const { events, problem } = readEventFile(join(FIX, name));
    assert.equal(problem, null, name);
    assert.equal(events.length, want.length, name);
    for (const [i, w] of want.entries()) {
      const e = events[i];
      assert.equal(e.wallTime, w.wall_time, `${name} #${i} wall_time`);
      assert.equal(e.step, w.step, `${name} #${i} step`);
      assert.equal(e.fileVersion, w.file_version, `${name} #${i} file_version`);
      const values = (w.values ?? []).map((x) => ({ tag: x.tag, value: x.simple_value ?? x.tensor, kind: x.tensor !== undefined ? 'tensor' : 'simple_value', ...(x.plugin ? { plugin: x.plugin } : {}) }));
      assert.deepEqual(e.values ?? [], values, `${name} #${i} values`);
    }
    assert.equal(events[0].fileVersion, FILE_VERSION);
  }
});

test('our encoder writes the tf1-simple file byte for byte as TensorFlow did', () => {
  const [name] = Object.keys(expected.files).filter((n) => n.startsWith('tf1-simple/'));
  const bytes = readFileSync(join(FIX, name));
  const { records } = parseRecords(bytes);
  const events: TfEvent[] = records.map(decodeEvent);
  assert.equal(events[0].sourceWriter, 'tensorflow.core.util.events_writer');
  const ours = Buffer.concat(events.map((e) => frameRecord(encodeEvent(e))));
  assert.ok(ours.equals(bytes), 'the same bytes');
  // and a hand-built event equal to TensorFlow's record #4 (a step past 2^31)
  const mine = encodeEvent({ wallTime: 1700000003.0, step: 3000000000, values: [{ tag: 'a/rather/long/tag/name/for/the/varint/length/of/the/tag/field', value: 123.456 }] });
  assert.ok(Buffer.from(mine).equals(Buffer.from(records[4])));
});

test('a torn last record or a flipped byte stops the reader there, with the reason', () => {
  const [name] = Object.keys(expected.files);
  const bytes = readFileSync(join(FIX, name));
  const whole = parseRecords(bytes);
  const cut = parseRecords(bytes.subarray(0, bytes.length - 3));
  assert.equal(cut.records.length, whole.records.length - 1);
  assert.match(cut.problem!, /cut short/);
  const flipped = Uint8Array.from(bytes);
  const second = 16 + whole.records[0].length; // start of record 2
  flipped[second + 12 + 5] ^= 0x01;
  const bad = parseRecords(flipped);
  assert.equal(bad.records.length, 1);
  assert.match(bad.problem!, /data CRC mismatch/);
  flipped[second + 12 + 5] ^= 0x01;
  flipped[second + 1] ^= 0x01; // the length itself
  assert.match(parseRecords(flipped).problem!, /length CRC mismatch/);
});

test('the writer: a new file per start, file_version first; a resume cuts later steps and starts with SessionLog START', () => {
  const dir = join(tmp, 'w');
  const a = TensorBoardWriter.open(dir, null, 1000);
  for (let s = 1; s <= 5; s++) a.logRow({ type: 'train', step: s, epoch: 1, loss: 1 / s, time: 'x' }, 1000 + s);
  let events = readEventFile(a.file).events;
  assert.deepEqual(events[0], { wallTime: 1000, step: 0, fileVersion: FILE_VERSION, sourceWriter: 'sbert-train' });
  assert.deepEqual(events[2].values, [{ tag: 'train/loss', value: f32(1 / 2), kind: 'simple_value' }], 'step, epoch and strings are not scalars');
  writeFileSync(a.file, Buffer.concat([readFileSync(a.file), Buffer.from([1, 2, 3])])); // a torn write at the kill
  const b = TensorBoardWriter.open(dir, 3, 2000);
  assert.notEqual(b.file, a.file);
  assert.deepEqual(eventFiles(dir), [a.file, b.file], 'the new file sorts after the old one');
  events = readEventFile(a.file).events;
  assert.deepEqual(events.map((e) => e.step), [0, 1, 2, 3], 'steps past the checkpoint are gone, and the torn tail');
  assert.equal(readEventFile(a.file).problem, null);
  assert.deepEqual(readEventFile(b.file).events.map((e) => [e.step, e.fileVersion, e.sessionStatus]), [
    [0, FILE_VERSION, undefined],
    [4, undefined, SESSION_START],
  ]);
  TensorBoardWriter.open(dir, null, 3000);
  assert.equal(eventFiles(dir).length, 1, 'a run starting over from step 0 removes the earlier files');
});

for (const backend of TEST_BACKENDS) test(`a training run writes loss, lr, grad_norm and every evaluation metric (step-0 baseline included) as metrics.jsonl has them (${backend})`, async () => {
  const engine = await useBackend(backend);
  const run = join(tmp, `run-${backend}`);
  const recipe = parseRecipe(
    {
      model: { base: 'builtin:tiny', max_seq_length: 16 },
      data: { train: 'pairs.csv', dev: 'pairs.csv', score_scale: [0, 5] },
      training: { batch_size: 4, epochs: 2, max_steps: 4, log_every: 1, checkpoint_every: null },
      evaluation: { every_steps: 2 },
      output: { dir: run },
    },
    { baseDir: join(ROOT, 'test', 'fixtures', 'recipes') },
  );
  await train(recipe, { log: () => {}, progress: false, skipSave: true, ...engine });
  const files = readdirSync(join(run, 'tensorboard'));
  assert.equal(files.length, 1);
  assert.match(files[0], /^events\.out\.tfevents\.\d{10}\.[\w.-]+\.\d+\.0$/);
  const { events, problem } = readEventFile(join(run, 'tensorboard', files[0]));
  assert.equal(problem, null);
  const rows = readFileSync(join(run, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number | string>);
  const scalars = events.flatMap((e) => (e.values ?? []).map((v) => `${e.step} ${v.tag} ${v.value}`));
  const fromRows = rows.flatMap((r) =>
    Object.entries(r)
      .filter(([k, v]) => typeof v === 'number' && k !== 'step' && k !== 'epoch')
      .map(([k, v]) => `${r.step} ${r.type}/${k} ${f32(v as number)}`),
  );
  assert.deepEqual(scalars, fromRows);
  const tagsAt = (step: number) => events.filter((e) => e.step === step).flatMap((e) => (e.values ?? []).map((v) => v.tag));
  for (const s of [1, 2, 3, 4]) for (const t of ['train/loss', 'train/lr', 'train/grad_norm']) assert.ok(tagsAt(s).includes(t), `${t} at step ${s}`);
  for (const s of [0, 2, 4]) for (const t of ['eval/spearman_cosine', 'eval/pearson_cosine', 'eval/dev_loss']) assert.ok(tagsAt(s).includes(t), `${t} at step ${s}: ${tagsAt(s)}`);
  assert.ok(!tagsAt(1).some((t) => t.startsWith('eval/')) && !tagsAt(3).some((t) => t.startsWith('eval/')));
});
