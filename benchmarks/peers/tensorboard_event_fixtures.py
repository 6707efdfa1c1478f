"""Write small TensorBoard event files with TensorFlow's own writers, for test/training-tensorboard.test.ts.

Two files, each in its own folder under test/fixtures/tensorboard/ (the name TensorFlow gives it is kept):

  tf1-simple/  tf.compat.v1.summary.FileWriter with `Summary.Value(simple_value=...)`, the legacy scalar
               form that sbert-train writes. Events carry fixed wall times, so our encoder can be checked
               byte for byte against TensorFlow's records.
  tf2-scalars/ tf.summary.create_file_writer + tf.summary.scalar (TF2: the value is a rank-0 DT_FLOAT
               tensor with `scalars` plugin metadata), written by TensorFlow's C++ EventsWriter.

expected.json lists, per file, every event as TensorFlow's reader (tf.compat.v1.train.summary_iterator)
reads it back: wall_time, step, file_version, and (tag, value) pairs. The tests parse the files with our
reader and compare against it; nothing here is computed by sbert-train.

Needs: tensorflow (2.x; made with tensorflow-cpu 2.21.0, Python 3.11). Usage:
  python3 benchmarks/peers/tensorboard_event_fixtures.py [OUT_DIR]   (default test/fixtures/tensorboard)
"""
import json
import os
import shutil
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "..", "test", "fixtures", "tensorboard")

# Values chosen to exercise float32 rounding (0.1), a negative number, zero, a large step (> 2^31,
# a multi-byte varint) and a long tag.
SIMPLE = [
    (1700000000.25, 1, {"train/loss": 0.6931471824645996, "train/lr": 2e-05, "train/grad_norm": 1.5}),
    (1700000001.5, 2, {"train/loss": 0.1, "train/lr": 4e-05}),
    (1700000002.75, 10, {"eval/spearman_cosine": -0.25, "eval/dev_loss": 0.0}),
    (1700000003.0, 3000000000, {"a/rather/long/tag/name/for/the/varint/length/of/the/tag/field": 123.456}),
]
TF2 = [(0, {"loss": 1.0, "lr": 0.001}), (1, {"loss": 0.5}), (2, {"loss": 0.25, "lr": 0.0005})]


def fresh(path):
    shutil.rmtree(path, ignore_errors=True)
    os.makedirs(path)
    return path


def write_simple(path):
    # The v1 FileWriter (Python front, C++ EventsWriter behind) only runs in graph mode.
    with tf.Graph().as_default():
        w = tf.compat.v1.summary.FileWriter(path)
        for wall, step, values in SIMPLE:
            summary = tf.compat.v1.Summary(value=[tf.compat.v1.Summary.Value(tag=t, simple_value=v) for t, v in values.items()])
            w.add_event(tf.compat.v1.Event(wall_time=wall, step=step, summary=summary))
        w.close()


def write_tf2(path):
    w = tf.summary.create_file_writer(path)
    with w.as_default():
        for step, values in TF2:
            for tag, v in values.items():
                tf.summary.scalar(tag, v, step=step)
    w.close()


def read_back(path):
    (name,) = [n for n in os.listdir(path) if n.startswith("events.out.tfevents.")]
    events = []
    for e in tf.compat.v1.train.summary_iterator(os.path.join(path, name)):
        row = {"wall_time": e.wall_time, "step": e.step}
        if e.HasField("file_version"):
            row["file_version"] = e.file_version
        values = []
        for v in e.summary.value:
            if v.HasField("simple_value"):
                values.append({"tag": v.tag, "simple_value": v.simple_value})
            elif v.HasField("tensor"):
                values.append({"tag": v.tag, "tensor": float(tf.make_ndarray(v.tensor)), "plugin": v.metadata.plugin_data.plugin_name})
        if values:
            row["values"] = values
        events.append(row)
    return name, events


def main():
    expected = {"tensorflow": tf.__version__, "files": {}}
    for folder, write in (("tf1-simple", write_simple), ("tf2-scalars", write_tf2)):
        path = fresh(os.path.join(OUT, folder))
        write(path)
        name, events = read_back(path)
        expected["files"][f"{folder}/{name}"] = events
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")
    print(f"wrote {', '.join(expected['files'])} and expected.json to {OUT} (tensorflow {tf.__version__})")


if __name__ == "__main__":
    main()
