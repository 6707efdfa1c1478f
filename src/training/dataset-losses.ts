/**
 * Per-dataset training loss for a run on several datasets: each batch's loss is added to its
 * dataset's running sum, and each metrics row reports every dataset's mean batch loss since the
 * row before as `loss/<name>` (TensorBoard `train/loss/<name>`). The sums are plain JSON kept in
 * the loop state, so a resumed run reports what an uninterrupted one does.
 */
export type DatasetLossSums = Record<string, { sum: number; batches: number }>;

export const DatasetLosses = {
  /** The sums with these (dataset name, batch loss) pairs added. */
  add(sums: DatasetLossSums | undefined, batches: Iterable<readonly [string, number]>): DatasetLossSums {
    const out: DatasetLossSums = structuredClone(sums ?? {});
    for (const [name, value] of batches) {
      const s = (out[name] ??= { sum: 0, batches: 0 });
      s.sum += value;
      s.batches += 1;
    }
    return out;
  },
  /** `loss/<name>` -> mean batch loss, for the datasets seen since the last row. */
  row(sums: DatasetLossSums | undefined): Record<string, number> {
    return Object.fromEntries(Object.entries(sums ?? {}).map(([name, s]) => [`loss/${name}`, s.sum / s.batches]));
  },
};
