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
    return {
      update(done) {
        if (total > 0 && done / total >= nextMark) {
          const rate = done / Math.max((Date.now() - t0) / 1000, 1e-9);
          process.stderr.write(`${label}: ${done}/${total} ${unit} (${rate.toFixed(1)}/s)\n`);
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
