#!/bin/sh
# Writes the JPEG files the image tests decode, from a 24x16 RGB gradient
# (red across, green down, blue 128): progressive, and baseline with 4:2:0
# chroma subsampling and optimised Huffman tables, the two kinds of JPEG
# that stb_image_write does not produce. Needs cjpeg (Debian: libjpeg-turbo-progs).
set -eu
cd "$(dirname "$0")"
python3 - <<'PY' > gradient.ppm
import sys
w, h = 24, 16
sys.stdout.write(f"P6\n{w} {h}\n255\n")
sys.stdout.flush()
sys.stdout.buffer.write(bytes(v for y in range(h) for x in range(w) for v in (x * 10, y * 15, 128)))
PY
cjpeg -quality 95 -progressive gradient.ppm > progressive.jpg
cjpeg -quality 95 -optimize -sample 2x2 gradient.ppm > subsampled.jpg
rm gradient.ppm
