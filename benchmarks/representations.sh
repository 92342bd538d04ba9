#!/usr/bin/env bash
# Issue 23's table: what an item is (id, text, mapped vector, semantic-ID features, generated
# code tuple), on the sequence datasets under the cold-item protocol, into results/ (recorded
# cells are skipped; an interrupted training resumes from its checkpoint).
#   RECBENCH_DATA=../shared/data bash benchmarks/representations.sh [SEEDS]   (default 1: seed 0)
# The zero-shot and id rows (sbert, sasrec, unisrec, sasrec-hybrid) come from cold_items.sh.
set -uo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-1}  # a count (1: seed 0) or a list (0,1,2)
run() { python -m recbench.cli run --results-dir ${RESULTS:-results} --no-progress "$@"; }
for d in "amazon-scientific -D cold=0.2" "ml100k -D cold=0.2 -D cold_by=time"; do
  run -m sasrec-text -d $d --train-seeds $seeds
  for indexing in semantic random sequential collaborative hybrid; do
    run -m sasrec-sid -d $d -o indexing=$indexing --train-seeds $seeds
    run -m tiger -d $d -o indexing=$indexing --train-seeds $seeds
  done
  run -m sasrec-sid -d $d -o unique=false --train-seeds $seeds
done
