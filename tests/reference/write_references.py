#!/usr/bin/python3
"""Writes the PyTorch reference files the parity tests read (tests/reference/*.safetensors).

Run with Debian's python3-torch (PyTorch 1.13): `/usr/bin/python3 tests/reference/write_references.py`.
The tests never need Python: the files are checked in. Each case writes two
files: `<case>.weights.safetensors`, the module's state_dict as Lepton's network
names it (the module is layer 0, so every key gets the prefix "0."), and
`<case>.io.safetensors`, an input and the module's output for it.
The recurrent cases are float64, so the comparison can be tight; the ResNet
case (torchvision's names) and the transposed-convolution case are float32, as
a Lepton `Sequential` is.
`--check-lepton-file PATH` checks the reverse direction: a weights file that
Lepton wrote for the ResNet loads into the PyTorch model strictly and gives
PyTorch's output (the test `resnet: weights move from PyTorch and back`
writes one to build/.../lepton_resnet.safetensors).
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


class BasicBlock(torch.nn.Module):
    """torchvision's BasicBlock (resnet.py), with its attribute names."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(planes)
        self.relu = torch.nn.ReLU(inplace=True)
        self.conv2 = torch.nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = torch.nn.Sequential(torch.nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                                  torch.nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class TinyResNet(torch.nn.Module):
    """A small ResNet with torchvision's names: stem, two stages, global average pooling, a Linear head."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.relu = torch.nn.ReLU(inplace=True)
        self.layer1 = torch.nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = torch.nn.Sequential(BasicBlock(8, 16, 2), BasicBlock(16, 16))
        self.avgpool = torch.nn.AdaptiveAvgPool2d(1)
        self.fc = torch.nn.Linear(16, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def write_resnet_case():
    """resnet.{weights,io}.safetensors: TinyResNet's state_dict (float32, torchvision names) after a few
    training-mode passes (so the BatchNorm statistics and counters are not their initial values), and an
    input with the evaluation-mode output."""
    torch.manual_seed(2)
    model = TinyResNet()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    model.train()
    for _ in range(3):
        model(torch.randn(8, 1, 12, 12))
    model.eval()
    x = torch.randn(4, 1, 12, 12)
    with torch.no_grad():
        y = model(x)
    save_safetensors(os.path.join(HERE, "resnet.weights.safetensors"), dict(model.state_dict()))
    save_safetensors(os.path.join(HERE, "resnet.io.safetensors"), {"input": x, "output": y})


def write_transposed_case():
    """conv_transpose.{weights,io}.safetensors (float32): transposed convolutions with groups, output padding
    and dilation around a bilinear upsampling, the layers of a convolutional decoder, with Lepton's layer
    indices as names (the Upsample, layer 1, has no parameters)."""
    torch.manual_seed(3)
    model = torch.nn.Sequential(
        torch.nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2),
        torch.nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        torch.nn.ConvTranspose2d(4, 3, 4, stride=2, padding=1),
        torch.nn.ConvTranspose2d(3, 2, 3, stride=1, padding=2, dilation=2))
    x = torch.randn(2, 6, 5, 4)
    with torch.no_grad():
        y = model(x)
    save_safetensors(os.path.join(HERE, "conv_transpose.weights.safetensors"), dict(model.state_dict()))
    save_safetensors(os.path.join(HERE, "conv_transpose.io.safetensors"), {"input": x, "output": y})


def check_lepton_file(path):
    """The reverse direction: a file Lepton's save_weights wrote for the same network loads into
    TinyResNet strictly and gives the reference output."""
    import sys
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    types = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
    state = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        state[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=types[entry["dtype"]]).reshape(entry["shape"])
    model = TinyResNet()
    model.load_state_dict(state, strict=True)
    model.eval()
    io = {}
    with open(os.path.join(HERE, "resnet.io.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        d = f.read()
        for name in ("input", "output"):
            b, e = h[name]["data_offsets"]
            io[name] = torch.frombuffer(bytearray(d[b:e]), dtype=torch.float32).reshape(h[name]["shape"])
    with torch.no_grad():
        y = model(io["input"])
    err = ((y - io["output"]).abs() / io["output"].abs().clamp_min(1e-3)).max().item()
    print(f"{path}: loads strictly into TinyResNet; largest relative difference {err:.2e}")
    sys.exit(0 if err < 1e-5 else 1)


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
    write_resnet_case()
    write_transposed_case()


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--check-lepton-file":
        check_lepton_file(sys.argv[2])
    else:
        main()
