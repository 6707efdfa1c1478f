/**
 * The input-table flags every command that reads texts shares (`encode`, `index build|add`),
 * with the meanings recipes give `data.format` and `data.header` (src/data/table.ts).
 */
import type { Argv } from 'yargs';
import { INPUT_FORMATS } from '../data/index.js';

export function tableOptions<T>(y: Argv<T>): Argv<T> {
  return y
    .option('format', {
      type: 'string',
      choices: INPUT_FORMATS as string[],
      describe: 'input format (default: from the extension); tsv has no quoting, as the STS Benchmark .csv files need',
    })
    .option('header', {
      type: 'boolean',
      describe: 'csv/tsv: the first row is a header (default: yes when columns are given by name, no when by 0-based index)',
    }) as Argv<T>;
}
