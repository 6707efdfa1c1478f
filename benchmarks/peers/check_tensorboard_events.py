"""Read a run's TensorBoard event files with TensorBoard's own loader and print what it sees.

  python3 benchmarks/peers/check_tensorboard_events.py runs/<name>/tensorboard

Prints, per scalar tag, the steps and values TensorBoard's EventAccumulator holds (which applies
its restart purging: a SessionLog START at step s drops the earlier events at steps >= s), and
exits 1 when it holds no scalar or a record fails its CRC check. Needs: tensorboard (and
tensorflow, whose record reader checks every CRC; without it TensorBoard's own stub reader does).
"""
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def main():
    logdir = sys.argv[1]
    acc = EventAccumulator(logdir, size_guidance={"scalars": 0})
    acc.Reload()
    tags = acc.Tags()["scalars"]
    if not tags:
        print(f"{logdir}: no scalars", file=sys.stderr)
        sys.exit(1)
    for tag in sorted(tags):
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        dup = len(steps) != len(set(steps))
        print(f"{tag}: {len(events)} points, steps {steps}{'  DUPLICATE STEPS' if dup else ''}")
        print(f"    values {[round(e.value, 6) for e in events]}")


if __name__ == "__main__":
    main()
