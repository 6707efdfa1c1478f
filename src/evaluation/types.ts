/** What every evaluator returns. */
export interface EvaluationResult {
  /** Dataset / evaluator name; prefixes every metric key (`stsb-test_spearman_cosine`) when set. */
  name: string;
  /** Metric name -> value, keys prefixed with `${name}_` when name is non-empty. */
  metrics: Record<string, number>;
  /** The key in `metrics` that model selection and reports lead with. */
  primaryMetric: string;
}

/** sentence-transformers' prefix_name_to_metrics: `name_key`, or the key alone without a name. */
export function prefixMetrics(name: string, metrics: Record<string, number>): Record<string, number> {
  if (!name) return { ...metrics };
  return Object.fromEntries(Object.entries(metrics).map(([k, v]) => [`${name}_${k}`, v]));
}

export function prefixed(name: string, key: string): string {
  return name ? `${name}_${key}` : key;
}
