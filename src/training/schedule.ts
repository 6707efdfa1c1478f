/**
 * Learning-rate schedules with linear warmup, as the lambdas of transformers'
 * get_constant_schedule_with_warmup / get_linear_schedule_with_warmup /
 * get_cosine_schedule_with_warmup (num_cycles 0.5), https://github.com/huggingface/transformers/blob/main/src/transformers/optimization.py
 *
 * `step` counts optimizer updates already made (0 for the first update), because torch's
 * LambdaLR is stepped after optimizer.step(): the first update uses factor(0), so with warmup
 * the very first update has lr 0, exactly as in transformers.
 */
export type ScheduleName = 'constant' | 'linear' | 'cosine';

export interface Schedule {
  /** Learning rate for the update that follows `step` earlier updates. */
  lrAt(step: number): number;
  readonly warmupSteps: number;
  readonly totalSteps: number;
}

/** Warmup steps from a ratio of the total, rounded up as transformers' TrainingArguments.get_warmup_steps. */
export function warmupFromRatio(ratio: number, totalSteps: number): number {
  return Math.ceil(ratio * totalSteps);
}

export function makeSchedule(name: ScheduleName, baseLr: number, warmupSteps: number, totalSteps: number): Schedule {
  const warm = (step: number) => step / Math.max(1, warmupSteps);
  const factor = (step: number): number => {
    if (step < warmupSteps) return warm(step);
    switch (name) {
      case 'constant':
        return 1;
      case 'linear':
        return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
      case 'cosine': {
        const progress = (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps);
        return Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
      }
    }
  };
  return { lrAt: (step) => baseLr * factor(step), warmupSteps, totalSteps };
}
