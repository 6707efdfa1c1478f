/**
 * Vector search: an HNSW index over embeddings with crash-safe storage (./hnsw-index.ts,
 * ./store.ts), exact brute-force search as its reference (./exact.ts), corpus reading and
 * embedding (./corpus.ts, ./build.ts), and an HTTP server with a search page (./server.ts) that follows
 * changes to its folder (./live.ts).
 */
export { exactSearch, rowNorms, recallAtK, type ExactHit } from './exact.js';
export { HnswIndex, DEFAULT_PARAMS, checkParams, HNSWLIB_VERSION, inspectIndex, type Hit, type Item, type ModelRef, type IndexParams, type Manifest } from './hnsw-index.js';
export { readManifest, checkCanWrite, MANIFEST } from './store.js';
export { LIMITS, intInRange } from './limits.js';
export { hnswFileProblem, HNSW_HEADER_BYTES, type HnswExpect } from './hnsw-file.js';
export { readCorpus, corpusFormat, CORPUS_FORMATS, type Corpus, type CorpusOptions } from './corpus.js';
export { embedInto, buildIndex, addToIndex, checkEncoderMatches, modelRef, type TextEncoder, type BuildOptions } from './build.js';
export { embeddingView, indexEmbedding, indexedView, type IndexEmbeddingOptions } from './view.js';
export { calibrateEf, holdOutCount, EF_LADDER, type Calibration } from './calibrate.js';
export { createSearchServer, closeServer, listen, type ServerOptions, type IndexSource } from './server.js';
export { LiveIndex, type LiveIndexOptions } from './live.js';
