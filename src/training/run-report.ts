/**
 * The run's report (report.json / .md / .html in output.dir), written after every evaluation
 * (so a killed run still has one showing the curves so far) and once more at the end with the
 * final dev/test tables and the predicted-vs-gold scatter. The history is read back from
 * metrics.jsonl, the run's record that survives a resume: training rows give the loss, lr and
 * grad_norm curves, evaluation rows (the step-0 row is the model before training) the
 * evaluation and dev-loss curves.
 */
import { existsSync, readFileSync } from 'node:fs';
import { writeReport, type ModelResults, type ScatterData, type TrainingHistory } from '../evaluation/report.js';
import type { EvaluationResult } from '../evaluation/types.js';
import { perDimSection } from '../evaluation/per-dim.js';
import { isMultiDataset, type Recipe } from '../recipe/index.js';

export interface RunReportState {
  step: number;
  totalSteps: number;
  best: { step: number; value: number } | null;
  stoppedEarly: boolean;
  /** Dev (and test) metrics of the base model, before training. */
  startMetrics: Record<string, number> | null;
  startTestMetrics?: Record<string, number> | null;
}

/** The final evaluation of the saved model; absent while training goes on. */
export interface FinalResults {
  dev: Record<string, number> | null;
  test: Record<string, number> | null;
  scatters: ScatterData[];
}

/** Training and evaluation rows of metrics.jsonl as a report history (lines cut by a crash are skipped). */
export function historyFromMetrics(file: string): TrainingHistory {
  const history: TrainingHistory = { loss: [], evals: [] };
  if (!existsSync(file)) return history;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(line) as Record<string, unknown>;
    } catch {
      continue;
    }
    const step = row.step as number;
    if (row.type === 'train' && typeof row.loss === 'number') {
      history.loss.push({ step, loss: row.loss, ...(typeof row.lr === 'number' ? { lr: row.lr } : {}), ...(typeof row.grad_norm === 'number' ? { grad_norm: row.grad_norm } : {}) });
    } else if (row.type === 'eval') {
      const metrics: Record<string, number> = {};
      for (const [k, v] of Object.entries(row)) if (typeof v === 'number' && k !== 'step' && k !== 'epoch') metrics[k] = v;
      history.evals.push({ step, metrics });
    }
  }
  return history;
}

export async function writeRunReport(recipe: Recipe, metricsFile: string, state: RunReportState, final: FinalResults | null): Promise<void> {
  const asResult = (name: string, m: Record<string, number>): EvaluationResult => ({ name, metrics: m, primaryMetric: recipe.evaluation.monitor });
  const history = historyFromMetrics(metricsFile);
  const models: ModelResults[] = [];
  const before: EvaluationResult[] = [];
  if (state.startMetrics) before.push(asResult('dev', state.startMetrics));
  if (state.startTestMetrics) before.push(asResult('test', state.startTestMetrics));
  if (before.length) models.push({ model: `${recipe.model.base} (before training)`, results: before });
  if (final) {
    const tuned: EvaluationResult[] = [];
    if (final.dev) tuned.push(asResult('dev', final.dev));
    if (final.test) tuned.push(asResult('test', final.test));
    if (tuned.length) models.push({ model: 'tuned', results: tuned });
  } else {
    const latest = history.evals.filter((e) => e.step > 0).at(-1);
    if (latest) models.push({ model: `step ${latest.step}`, results: [asResult('dev', latest.metrics)] });
  }
  // With loss.matryoshka: a table of the metrics at each embedding size, per model and set.
  const perDim = perDimSection(models.flatMap((m) => m.results.map((r) => [`${m.model} ${r.name}`, r.metrics] as const)));
  await writeReport(recipe.output.dir, {
    title: `Training run: ${recipe.name}`,
    models,
    ...(perDim ? { sections: [perDim] } : {}),
    history,
    scatter: final?.scatters.length ? final.scatters : undefined,
    meta: {
      model: recipe.model.base,
      loss: recipe.loss.name,
      ...(isMultiDataset(recipe) ? { datasets: recipe.data.train.map((d) => `${d.name} (${d.loss.name}; loss/${d.name} in metrics.jsonl)`).join(', '), sampler: recipe.training.multi_dataset_sampler } : {}),
      status: final ? 'finished' : `training (step ${state.step} of ${state.totalSteps}; this report is rewritten at every evaluation)`,
      steps: state.step,
      best_step: state.best?.step ?? 'n/a',
      monitor: recipe.evaluation.monitor,
      stopped_early: String(state.stoppedEarly),
      updated: new Date().toISOString(),
    },
  });
}
