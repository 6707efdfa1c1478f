/**
 * An index folder followed while it is served. `index add` and `index remove` commit a new
 * generation by swapping the manifest (./store.ts); a poll notices the new generation, loads
 * it with the usual checks and swaps it in. Requests already running finish on the index
 * they started with. A new generation that fails to load, or that was built by another
 * model, is reported once and the index in service stays.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { HnswIndex } from './hnsw-index.js';
import { MANIFEST, readManifest, type Manifest } from './store.js';

export interface LiveIndexOptions {
  /** Throws (with a message for the log) when a manifest must not be served, e.g. another model. */
  accept?: (manifest: Manifest) => void;
  log?: (line: string) => void;
}

export class LiveIndex {
  private index: HnswIndex;
  private timer?: NodeJS.Timeout;
  /** mtime, size and inode of the manifest last seen, so an unchanged folder costs one stat. */
  private seen = '';
  /** A generation that failed to load is not retried (a later commit gets a new number). */
  private refused = -1;
  private readonly accept: (manifest: Manifest) => void;
  private readonly log: (line: string) => void;

  constructor(
    readonly dir: string,
    index: HnswIndex,
    opts: LiveIndexOptions = {},
  ) {
    this.index = index;
    this.accept = opts.accept ?? (() => {});
    this.log = opts.log ?? ((l: string) => process.stderr.write(l + '\n'));
    this.seen = this.stamp();
  }

  get current(): HnswIndex {
    return this.index;
  }

  /** Look at the folder now; true when a new generation was swapped in. */
  refresh(): boolean {
    const stamp = this.stamp();
    if (stamp === this.seen) return false;
    this.seen = stamp;
    let generation: number | undefined;
    let next: HnswIndex;
    try {
      const manifest = readManifest(this.dir);
      generation = manifest.generation;
      if (generation === this.index.generationNumber || generation === this.refused) return false;
      this.accept(manifest);
      next = HnswIndex.load(this.dir);
    } catch (e) {
      // A manifest caught half-way is impossible (it is renamed into place), so this is a
      // damaged or foreign commit: say so once and keep serving what we have.
      if (generation !== undefined) this.refused = generation;
      this.log(`serve: keeping generation ${this.index.generationNumber} of ${this.dir}: ${(e as Error).message}`);
      return false;
    }
    this.index = next;
    this.log(`serve: reloaded ${this.dir}: generation ${next.generationNumber}, ${next.count} items`);
    return true;
  }

  /** Poll every `intervalMs` until stop(); the timer does not keep the process alive. */
  start(intervalMs = 2000): void {
    this.stop();
    this.timer = setInterval(() => this.refresh(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private stamp(): string {
    try {
      const s = statSync(join(this.dir, MANIFEST));
      return `${s.mtimeMs}:${s.size}:${s.ino}`;
    } catch {
      return 'missing';
    }
  }
}
