#!/usr/bin/python3
"""Whole-volume NumPy/SciPy reference of the competition's surface Dice at tolerance 0.

Same definition as the official code (DeepMind surface-distance, as used by the host's notebook):
crop both masks to the bounding box of their union, pad by one voxel, take every corner's 8-bit
neighbour code with scipy.ndimage.correlate and the official kernel, look the areas up in the table,
and count a surface element as matched when the other mask also has a surface at that corner (at
tolerance 0 the distance-transform step reduces to exactly that). Holds whole volumes in memory, as
the official code does; used by bench/surface-dice.ts to check and time the streaming version.

Usage (prints one JSON line):
  surface_dice_reference.py --table T.json raw TRUTH.u8 PRED.u8 D H W
  surface_dice_reference.py --table T.json csv SOLUTION.csv SUBMISSION.csv
"""
import argparse
import csv
import json
import resource
import sys
import time

import numpy as np
from scipy import ndimage

KERNEL = np.array([[[128, 64], [32, 16]], [[8, 4], [2, 1]]])


def surface_dice(truth: np.ndarray, pred: np.ndarray, table: np.ndarray):
    union = truth | pred
    if not union.any():
        return None
    box = tuple(slice(int(a.min()), int(a.max()) + 1) for a in np.nonzero(union))
    del union

    def codes(mask):
        cropped = np.pad(mask[box].astype(np.uint8), 1)
        return ndimage.correlate(cropped, KERNEL, mode="constant", cval=0)

    code_t = codes(truth)
    code_p = codes(pred)
    area_t = table[code_t]
    area_p = table[code_p]
    matched = (code_t != 0) & (code_t != 255) & (code_p != 0) & (code_p != 255)
    total = area_t.sum() + area_p.sum()
    return float((area_t[matched].sum() + area_p[matched].sum()) / total)


def as_bool(mask: np.ndarray) -> np.ndarray:
    # 0/1 bytes can be viewed as bool without a second whole-volume copy.
    return mask.view(bool) if mask.max() <= 1 else mask != 0


def rle_decode(rle: str, h: int, w: int) -> np.ndarray:
    out = np.zeros(h * w, dtype=bool)
    v = np.array(rle.split(), dtype=np.int64)
    for start, length in zip(v[0::2] - 1, v[1::2]):
        out[start:start + length] = True
    return out.reshape(h, w)


def score_csv(solution: str, submission: str, table: np.ndarray):
    with open(submission, newline="") as f:
        pred_rle = {r["id"]: r["rle"] for r in csv.DictReader(f)}
    images = {}
    with open(solution, newline="") as f:
        for r in csv.DictReader(f):
            images.setdefault(r["image"], []).append(r)
    per_image, metric_seconds = {}, 0.0
    for image, rows in images.items():
        rows.sort(key=lambda r: int(r["slice"]))
        h, w = int(rows[0]["height"]), int(rows[0]["width"])
        truth = np.stack([rle_decode(r["rle"], h, w) for r in rows])
        pred = np.stack([rle_decode(pred_rle[r["id"]], h, w) for r in rows])
        t = time.perf_counter()
        per_image[image] = surface_dice(truth, pred, table)
        metric_seconds += time.perf_counter() - t
    scores = [s for s in per_image.values() if s is not None]
    return {"score": sum(scores) / len(scores) if scores else None, "perImage": per_image,
            "metricSeconds": metric_seconds}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--table", required=True)
    p.add_argument("mode", choices=["raw", "csv"])
    p.add_argument("args", nargs="+")
    a = p.parse_args()
    with open(a.table) as f:
        table = np.array(json.load(f), dtype=np.float64)
    started = time.perf_counter()
    if a.mode == "raw":
        truth_file, pred_file, d, h, w = a.args
        shape = (int(d), int(h), int(w))
        truth = as_bool(np.fromfile(truth_file, dtype=np.uint8).reshape(shape))
        pred = as_bool(np.fromfile(pred_file, dtype=np.uint8).reshape(shape))
        t = time.perf_counter()
        result = {"score": surface_dice(truth, pred, table), "metricSeconds": time.perf_counter() - t}
    else:
        result = score_csv(a.args[0], a.args[1], table)
    result["seconds"] = time.perf_counter() - started
    result["peakRssMB"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
