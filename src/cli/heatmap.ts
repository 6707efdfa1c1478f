/**
 * `sbert-train heatmap`: the pairwise cosine-similarity matrix of a list of texts, one panel
 * per model, written as heatmap.png, heatmap.svg and heatmap.html.
 *
 *   sbert-train heatmap --model builtin:tiny --model runs/job-titles/final --texts titles.txt --out plots/
 */
import { readFileSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { initBackend } from '../backend/index.js';
import { DataError, UserError } from '../errors.js';
import { cosineSimilarityMatrix, writeHeatmap, type HeatmapPanel } from '../viz/heatmap.js';
import { loadModelOrExplain, uniqueNames } from './eval.js';

interface HeatmapArgs {
  model: string[];
  texts?: string;
  text?: string[];
  out: string;
  title?: string;
  color: 'fixed' | 'fit';
  'batch-size': number;
  backend: string;
}

/** Most texts a heatmap can show legibly (cells stay >= 20 px in a 2000 px wide panel). */
export const MAX_TEXTS = 100;

/** One text per non-blank line. */
export function readTextsFile(path: string): string[] {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read texts file ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return raw
    .split('\n')
    .map((l) => l.replace(/\r$/, '').trim())
    .filter((l) => l.length > 0);
}

export const heatmapCommand: CommandModule<object, HeatmapArgs> = {
  command: 'heatmap',
  describe: 'pairwise cosine-similarity heatmap of texts (PNG, SVG, HTML)',
  builder: (y: Argv) =>
    y
      .option('model', { type: 'string', array: true, demandOption: true, describe: 'model folder, hub id or builtin:NAME; repeat for side-by-side panels' })
      .option('texts', { type: 'string', describe: 'file with one text per line' })
      .option('text', { type: 'string', array: true, describe: 'a text (repeatable; added after --texts)' })
      .option('out', { type: 'string', default: 'heatmap', describe: 'output folder' })
      .option('title', { type: 'string', describe: 'chart title' })
      .option('color', { type: 'string', choices: ['fixed', 'fit'], default: 'fixed', describe: "colour scale: 'fixed' [0, 1] (comparable across plots) or 'fit' to the values" })
      .option('batch-size', { type: 'number', default: 32, describe: 'sentences per forward pass' }) as unknown as Argv<HeatmapArgs>,
  handler: async (argv) => {
    const texts = [...(argv.texts ? readTextsFile(argv.texts) : []), ...(argv.text ?? []).map((t) => String(t))];
    if (texts.length === 0) throw new UserError(argv.texts ? `${argv.texts}: no texts (the file has no non-blank lines)` : 'heatmap: no texts given (use --texts FILE or --text "..." at least once)');
    if (texts.length > MAX_TEXTS) throw new UserError(`heatmap: ${texts.length} texts is too many to read in one plot (at most ${MAX_TEXTS}); pick a subset`);
    await initBackend(argv.backend);
    const names = uniqueNames(argv.model);
    const panels: HeatmapPanel[] = [];
    for (const [i, spec] of argv.model.entries()) {
      const encoder = await loadModelOrExplain(spec);
      try {
        const emb = await encoder.encode(texts, { batchSize: argv['batch-size'] });
        panels.push({ model: names[i], matrix: cosineSimilarityMatrix(emb) });
      } finally {
        encoder.dispose();
      }
    }
    const paths = await writeHeatmap(argv.out, texts, panels, { title: argv.title ?? 'Cosine similarity', colorDomain: argv.color });
    process.stdout.write(`${paths.png}\n${paths.svg}\n${paths.html}\n`);
  },
};
