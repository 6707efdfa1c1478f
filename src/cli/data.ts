/**
 * `sbert-train data <action>`: prepare training data.
 *
 *   sbert-train data quickstart [--out datasets/quickstart] [--seed 42]
 *   sbert-train data esco-pairs --occupations occupations_en.csv --out pairs.csv [--seed N] [--max-pairs N]
 *   sbert-train data mine-negatives --model M --input pairs.csv --out triplets.csv [...]   (./mine-negatives.ts)
 *   sbert-train data check train.csv dev.csv test.csv [--strict] [--json]                (./data-check.ts)
 *   sbert-train data augment train.csv --out train-aug.csv [--ops swap,delete,synonym]   (./data-check.ts)
 *
 * Both write `sentence1,sentence2,score` csv files atomically. See src/data/quickstart.ts and
 * src/data/esco.ts for how pairs are formed and scored.
 */
import { existsSync } from 'node:fs';
import type { Argv, CommandModule } from 'yargs';
import { writeEscoPairs } from '../data/esco.js';
import { writeQuickstart } from '../data/quickstart.js';
import { UserError } from '../errors.js';
import { checkAugmentOptions, runDataAugment, runDataCheck, type CheckAugmentArgs } from './data-check.js';
import { mineNegativesOptions, runMineNegatives, type MineArgs } from './mine-negatives.js';

const ACTIONS = ['quickstart', 'esco-pairs', 'mine-negatives', 'check', 'augment'] as const;

interface DataArgs extends Omit<MineArgs, 'out' | 'seed' | 'format'>, Omit<CheckAugmentArgs, 'out' | 'seed' | 'format' | 'force' | 'columns' | 'model' | 'backend'> {
  action: (typeof ACTIONS)[number];
  out?: string;
  occupations?: string;
  seed: number;
  'max-pairs'?: number;
  'max-alts': number;
  'related-score': number;
}

function wholeNumber(name: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) throw new UserError(`--${name}: must be a whole number >= ${min}, got ${v}`);
}

export const dataCommand: CommandModule<object, DataArgs> = {
  command: 'data <action> [files..]',
  describe: 'prepare training data: quickstart job-title pairs, scored pairs from ESCO occupations, or hard negatives mined for pairs',
  builder: (y: Argv) =>
    checkAugmentOptions(mineNegativesOptions(y))
      .positional('action', { choices: ACTIONS, describe: 'quickstart | esco-pairs | mine-negatives | check | augment' })
      .positional('files', { type: 'string', array: true, describe: 'check: data files (train, dev, test...); augment: the training file' })
      .option('out', { type: 'string', describe: 'quickstart: output folder (default datasets/quickstart); esco-pairs: output csv file (required); mine-negatives: .csv, .tsv or .jsonl file (required)' })
      .option('occupations', { type: 'string', describe: 'esco-pairs: ESCO occupations csv (columns preferredLabel, altLabels, iscoGroup)' })
      .option('seed', { type: 'number', default: 42, describe: 'random seed: same input + seed = same pairs' })
      .option('max-pairs', { type: 'number', describe: 'esco-pairs: keep at most this many pairs (a random sample)' })
      .option('max-alts', { type: 'number', default: 10, describe: 'esco-pairs: at most this many synonym pairs per occupation' })
      .option('related-score', { type: 'number', default: 0.5, describe: 'esco-pairs: score of two occupations in the same ISCO unit group' })
      .epilog(
        'quickstart: writes train.csv (3000 pairs) and dev.csv (400 pairs) of job titles from a built-in vocabulary: ' +
          'same job 0.9-1.0, related jobs 0.4-0.6, unrelated 0.0-0.1; half the dev pairs use titles held out of train, half are title combinations not in train.\n\n' +
          'esco-pairs: preferred label vs each alternative label = 1.0; labels of two occupations in the same ISCO unit group = ' +
          '--related-score (0.5); labels from different ISCO sub-major groups = 0.0. One related and one dissimilar pair are drawn ' +
          'per synonym pair; pairs are de-duplicated and shuffled.\n\n' +
          'mine-negatives: for each anchor, the closest corpus texts (the positives, plus --corpus) that are not its positives become negatives, ' +
          'filtered by rank (--range-min/--range-max) and score (--margin, --relative-margin, --max-score, --min-score) as in sentence-transformers mine_hard_negatives; ' +
          'the output trains a multiple_negatives_ranking recipe with data.columns.texts [anchor, positive, negative].\n\n' +
          'check: empty texts, duplicates (exact and after normalisation), rows in more than one file (leakage), a label histogram (--label), texts over max_seq_length (--model); ' +
          '--columns: the text columns (default sentence1,sentence2); --json prints JSON; --strict exits 1 on leakage.\n\n' +
          'augment: EDA random swap / deletion / synonym replacement (--synonyms FILE) of the --columns texts of a training file, seeded; writes --out (a new file; --force replaces it); files named dev / test are refused.',
      ) as unknown as Argv<DataArgs>,
  handler: async (argv) => {
    wholeNumber('seed', argv.seed, 0);
    if (argv.action === 'quickstart') {
      const out = argv.out ?? 'datasets/quickstart';
      const r = writeQuickstart(out, { seed: argv.seed });
      process.stdout.write(`wrote ${r.train} train pairs to ${r.trainPath} and ${r.dev} dev pairs to ${r.devPath}\n`);
      return;
    }
    if (argv.action === 'mine-negatives') return runMineNegatives(argv);
    if (argv.action === 'check') return runDataCheck(argv as unknown as CheckAugmentArgs);
    if (argv.action === 'augment') return runDataAugment(argv as unknown as CheckAugmentArgs);
    if (!argv.occupations) throw new UserError('data esco-pairs: --occupations FILE is required (the ESCO occupations_en.csv export)');
    if (!argv.out) throw new UserError('data esco-pairs: --out FILE.csv is required');
    if (!existsSync(argv.occupations)) throw new UserError(`data esco-pairs: occupations file not found: ${argv.occupations}`);
    wholeNumber('max-pairs', argv['max-pairs'], 1);
    wholeNumber('max-alts', argv['max-alts'], 1);
    const rs = argv['related-score'];
    if (!(rs >= 0 && rs <= 1)) throw new UserError(`--related-score: must be between 0 and 1, got ${rs}`);
    const r = writeEscoPairs(argv.occupations, argv.out, {
      seed: argv.seed,
      maxPairs: argv['max-pairs'] ?? null,
      maxAltsPerOccupation: argv['max-alts'],
      relatedScore: rs,
    });
    const mix = Object.entries(r.byScore)
      .sort((a, b) => Number(b[0]) - Number(a[0]))
      .map(([s, n]) => `${n} at ${s}`)
      .join(', ');
    process.stdout.write(`wrote ${r.pairs} pairs (${mix}) from ${r.occupations} occupations to ${argv.out}\n`);
  },
};
