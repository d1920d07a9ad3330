#!/usr/bin/env python3
"""Merge per-sample Salmon outputs into TPM / count matrices and a mapping-rate table.

Standard library only, so it runs in a stock python:3.12-slim image.
"""
import argparse
import csv
import json
import os
import sys


def read_quant(path):
    tpm, counts = {}, {}
    with open(os.path.join(path, "quant.sf"), newline="") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            tpm[row["Name"]] = float(row["TPM"])
            counts[row["Name"]] = float(row["NumReads"])
    return tpm, counts


def read_meta(path):
    with open(os.path.join(path, "aux_info", "meta_info.json")) as fh:
        info = json.load(fh)
    with open(os.path.join(path, "lib_format_counts.json")) as fh:
        lib = json.load(fh)
    return {
        "num_processed": info.get("num_processed", 0),
        "num_mapped": info.get("num_mapped", 0),
        "percent_mapped": round(info.get("percent_mapped", 0.0), 2),
        "library_type": lib.get("expected_format", "NA"),
    }


def write_matrix(path, samples, per_sample):
    names = sorted({n for values in per_sample.values() for n in values})
    with open(path, "w", newline="") as fh:
        out = csv.writer(fh, delimiter="\t", lineterminator="\n")
        out.writerow(["Name"] + samples)
        for name in names:
            out.writerow([name] + ["%.4f" % per_sample[s].get(name, 0.0) for s in samples])


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out-prefix", default=".")
    ap.add_argument("quant_dirs", nargs="+")
    args = ap.parse_args(argv)

    samples = sorted(os.path.basename(os.path.normpath(d)) for d in args.quant_dirs)
    by_name = {os.path.basename(os.path.normpath(d)): d for d in args.quant_dirs}

    tpm, counts, meta = {}, {}, {}
    for s in samples:
        tpm[s], counts[s] = read_quant(by_name[s])
        meta[s] = read_meta(by_name[s])

    write_matrix(os.path.join(args.out_prefix, "tpm_matrix.tsv"), samples, tpm)
    write_matrix(os.path.join(args.out_prefix, "counts_matrix.tsv"), samples, counts)

    fields = ["num_processed", "num_mapped", "percent_mapped", "library_type"]
    with open(os.path.join(args.out_prefix, "mapping_summary.tsv"), "w", newline="") as fh:
        out = csv.writer(fh, delimiter="\t", lineterminator="\n")
        out.writerow(["sample"] + fields)
        for s in samples:
            out.writerow([s] + [meta[s][f] for f in fields])

    low = [s for s in samples if meta[s]["percent_mapped"] < 50.0]
    if low:
        print("WARNING: mapping rate below 50%% for: %s" % ", ".join(low), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
