#!/usr/bin/python3
"""Writes the PyTorch reference files the parity tests read (tests/reference/*.safetensors).

Run with Debian's python3-torch (PyTorch 1.13): `/usr/bin/python3 tests/reference/write_references.py`.
The tests never need Python: the files are checked in. Each case writes two
files: `<case>.weights.safetensors`, the module's state_dict as Lepton's network
names it (the module is layer 0, so every key gets the prefix "0."), and
`<case>.io.safetensors`, an input and the module's output for it.
Everything is float64, so the comparison can be tight.
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))


def save_safetensors(path, tensors):
    """The safetensors layout: 8-byte little-endian header length, a JSON header, raw little-endian data."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.detach().contiguous()
        dtype = {torch.float64: "F64", torch.float32: "F32", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = {"format": "pt", "written_by": "tests/reference/write_references.py, PyTorch " + torch.__version__}
    text = json.dumps(header, separators=(",", ":"))
    text += " " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text.encode())
        for b in blobs:
            f.write(b)


def write_case(name, module, x):
    module = module.double().eval()
    y, _ = module(x)
    save_safetensors(os.path.join(HERE, name + ".weights.safetensors"),
                     {"0." + k: v for k, v in module.state_dict().items()})
    save_safetensors(os.path.join(HERE, name + ".io.safetensors"), {"input": x, "output": y})


def main():
    torch.manual_seed(1)
    x = torch.randn(2, 5, 6, dtype=torch.float64)
    # The example: two stacked layers, weight_ih_l1 etc.
    write_case("lstm_2_layers", torch.nn.LSTM(6, 10, num_layers=2, batch_first=True, dropout=0.25), x)
    write_case("gru_2_layers", torch.nn.GRU(6, 4, num_layers=2, batch_first=True), x)
    write_case("lstm_2_layers_bidirectional",
               torch.nn.LSTM(6, 3, num_layers=2, batch_first=True, bidirectional=True), x)
    write_case("gru_3_layers_bidirectional",
               torch.nn.GRU(6, 2, num_layers=3, batch_first=True, bidirectional=True, dropout=0.5), x)


if __name__ == "__main__":
    main()
