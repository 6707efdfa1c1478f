"""Write the header of a PEFT adapter_model.safetensors (tensor names, dtypes, shapes; no values) as JSON.

Made test/fixtures/peft/adapter_model.header.json from the adapter that PEFT 0.17.1 saved in
github.com/Hareshjethani/BERT-GPT2-Multitask-Finetuning (see test/fixtures/peft/SOURCE.md):

    python3 benchmarks/peers/peft_adapter_header.py adapter_model.safetensors > test/fixtures/peft/adapter_model.header.json

Standard library only: the safetensors header is an 8-byte little-endian length and that many bytes of JSON.
"""
import json
import struct
import sys

if len(sys.argv) != 2 or sys.argv[1] in ('-h', '--help'):
    print(__doc__)
    sys.exit(0 if len(sys.argv) == 2 else 2)
with open(sys.argv[1], 'rb') as f:
    (n,) = struct.unpack('<Q', f.read(8))
    header = json.loads(f.read(n))
out = {k: (v if k == '__metadata__' else {'dtype': v['dtype'], 'shape': v['shape']}) for k, v in header.items()}
print(json.dumps(out, indent=2, sort_keys=True))
