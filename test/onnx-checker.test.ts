/**
 * The ONNX reference checker (Debian's python3-onnx, `onnx.checker.check_model` with
 * full_check, which also runs shape inference) accepts every graph we export: each
 * architecture, every pooling mode, Dense + Normalize, and the int8 graph. CI installs
 * python3-onnx; elsewhere the test skips and says why.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/index.js';
import { loadEncoder } from '../src/models/index.js';
import { encoderToOnnx } from '../src/engine/onnx/encoder.js';
import { DataType, GraphBuilder } from '../src/engine/onnx/graph.js';
import { encodeModel } from '../src/engine/onnx/proto.js';
import { quantizeDynamic } from '../src/engine/onnx/quantize.js';
import { makeModelFolder, type TestArch } from './helpers/models.js';

// The Debian interpreter, not a pyenv shim that may lack the package.
const PYTHON = '/usr/bin/python3';
const tmp = mkdtempSync(join(tmpdir(), 'sbert-onnx-checker-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
before(async () => {
  await initBackend('wasm', { quiet: true });
});

function onnxMissing(): string | null {
  const r = spawnSync(PYTHON, ['-c', 'import onnx; print(onnx.__version__)'], { encoding: 'utf8' });
  if (r.error) return `${PYTHON} not found (${(r.error as NodeJS.ErrnoException).code})`;
  if (r.status !== 0) return `${PYTHON} cannot import onnx (install python3-onnx): ${r.stderr.trim().split('\n').pop()}`;
  return null;
}

/** onnx.checker on each file: [file, null] when it passes, [file, message] when not. */
function check(files: string[]): Map<string, string | null> {
  const script = [
    'import json, sys, onnx',
    'out = {}',
    'for f in sys.argv[1:]:',
    '    try:',
    '        onnx.checker.check_model(onnx.load(f), full_check=True)',
    '        out[f] = None',
    '    except Exception as e:',
    '        out[f] = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__',
    'print(json.dumps(out))',
  ].join('\n');
  const r = spawnSync(PYTHON, ['-c', script, ...files], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return new Map(Object.entries(JSON.parse(r.stdout) as Record<string, string | null>));
}

test('onnx.checker (full_check) passes every exported graph: each architecture, every pooling mode, Dense, Normalize, int8', async (t) => {
  const missing = onnxMissing();
  if (missing) return t.skip(missing);
  const files: string[] = [];
  for (const arch of ['bert', 'distilbert', 'roberta', 'xlm-roberta', 'mpnet'] as TestArch[]) {
    const dir = join(tmp, arch);
    makeModelFolder(dir, {
      arch,
      pooling: { pooling_mode_cls_token: true, pooling_mode_max_tokens: true, pooling_mode_mean_sqrt_len_tokens: true, pooling_mode_weightedmean_tokens: true, pooling_mode_lasttoken: true },
      dense: { out: 8, activation: 'torch.nn.modules.activation.GELU' },
      normalize: true,
    });
    const enc = await loadEncoder(dir);
    const { model } = await encoderToOnnx(enc);
    enc.dispose();
    writeFileSync(join(tmp, `${arch}.onnx`), encodeModel(model));
    writeFileSync(join(tmp, `${arch}-int8.onnx`), encodeModel(quantizeDynamic(model).model));
    files.push(join(tmp, `${arch}.onnx`), join(tmp, `${arch}-int8.onnx`));
  }
  for (const [file, problem] of check(files)) assert.equal(problem, null, `${file}: ${problem}`);
});

test('onnx.checker rejects a graph that is wrong (so the check above can fail)', (t) => {
  const missing = onnxMissing();
  if (missing) return t.skip(missing);
  const g = new GraphBuilder('broken');
  const x = g.input('x', DataType.FLOAT, ['batch', 3]);
  // MatMul of [batch, 3] by a [4, 2] weight: the shapes cannot agree
  g.output('y', g.matmul(x, g.floats('w', [4, 2], new Float32Array(8))), DataType.FLOAT, ['batch', 2]);
  const file = join(tmp, 'broken.onnx');
  writeFileSync(file, encodeModel(g.toModel({ producerName: 'test', producerVersion: '0' })));
  const problem = check([file]).get(file);
  assert.ok(problem, 'the checker accepted a MatMul with mismatched shapes');
});
