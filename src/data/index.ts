/**
 * Data: reading tables, loading and validating training pairs, batching, dev splits, and the
 * generators behind `sbert-train data` (quickstart job titles, ESCO pairs). STS benchmark
 * readers live in sts.ts.
 */
export { readTable, readInput, readLines, readFileChecked, resolveColumn, cell, columnArg, headerDefault, formatFromPath, inputFormatFromPath, INPUT_FORMATS, type InputFormat, type Table, type TableRow, type TableFormat, type Column, type ReadTableOptions } from './table.js';
export { loadPairs, normalizeColumns, type Example, type LoadPairsOptions, type LoadedPairs, type ScoreScale, type ColumnList, type NamedColumns } from './pairs.js';
export { makeBatches, shuffleInPlace, type BatchOptions } from './batching.js';
export { validationSplit } from './split.js';
export { interleaveBatches, roundRobinOrder, proportionalOrder, type MultiDatasetSampler, type DatasetBatch } from './multi-dataset.js';
export { readOccupations, escoPairs, writeEscoPairs, type Occupation, type EscoPairOptions, type ScoredPair } from './esco.js';
export { quickstartPairs, writeQuickstart, JOB_FAMILIES, type JobFamily, type QuickstartOptions } from './quickstart.js';
export { toCsv, csvField, writeCsvAtomic } from './csv-write.js';
