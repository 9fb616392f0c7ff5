#!/usr/bin/python3
"""Writes breast_cancer.csv from the copy of the Breast Cancer Wisconsin
(Diagnostic) data set that scikit-learn ships (Debian: python3-sklearn).

Run from anywhere: /usr/bin/python3 data/breast_cancer/write_csv.py
The file is checked in; Lepton's tests and examples never need Python.
"""
import csv
import pathlib

from sklearn.datasets import load_breast_cancer

data = load_breast_cancer()
out = pathlib.Path(__file__).with_name("breast_cancer.csv")
with out.open("w", newline="") as f:
    writer = csv.writer(f, lineterminator="\n")
    writer.writerow(list(data.feature_names) + ["diagnosis"])
    for row, target in zip(data.data, data.target):
        writer.writerow(["%.10g" % v for v in row] + [data.target_names[target]])
print(f"wrote {out}: {len(data.data)} rows, {len(data.feature_names)} features")
