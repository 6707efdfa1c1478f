/**
 * Progress bars on stderr (cli-progress), with rate and ETA. Off when SBERT_NO_PROGRESS=1;
 * when stderr is not a terminal, a plain line is printed every ~10% instead.
 */
import cliProgress from 'cli-progress';

export interface Progress {
  update(done: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

export function progressBar(label: string, total: number, unit = 'items', extraFormat = ''): Progress {
  if (process.env.SBERT_NO_PROGRESS === '1') return { update() {}, stop() {} };
  if (!process.stderr.isTTY) {
    let nextMark = 0.1;
    const t0 = Date.now();
    let first: number | null = null;
    return {
      update(done, payload = {}) {
        first ??= done; // a resumed run starts part-way: rate and ETA count from here
        if (total > 0 && done / total >= nextMark) {
          process.stderr.write(`${plainProgressLine(label, unit, done, total, first, (Date.now() - t0) / 1000, payload)}\n`);
          while (done / total >= nextMark) nextMark += 0.1;
        }
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} ${unit} | {rate}/s | ETA {eta_formatted}${extraFormat}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = Date.now();
  bar.start(total, 0, { rate: '0.0' });
  return {
    update(done, payload = {}) {
      const rate = done / Math.max((Date.now() - t0) / 1000, 1e-9);
      bar.update(done, { rate: rate.toFixed(1), ...payload });
    },
    stop() {
      bar.stop();
    },
  };
}

/**
 * The line printed instead of a bar when stderr is not a terminal (CI logs, `nohup`, files):
 * `train: 47/94 steps (0.3/s, ETA 2m37s) | epoch 1 | loss 0.1234 | lr 1.00e-03`.
 */
export function plainProgressLine(label: string, unit: string, done: number, total: number, first: number, seconds: number, payload: Record<string, string | number> = {}): string {
  const rate = (done - first) / Math.max(seconds, 1e-9);
  const eta = rate > 0 ? `, ETA ${formatDuration((total - done) / rate)}` : '';
  const extra = Object.entries(payload)
    .filter(([, v]) => v !== '-' && v !== '')
    .map(([k, v]) => ` | ${k} ${v}`)
    .join('');
  return `${label}: ${done}/${total} ${unit} (${rate.toFixed(1)}/s${eta})${extra}`;
}

/** 75 -> "1m15s", 3725 -> "1h02m", 9 -> "9s". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
