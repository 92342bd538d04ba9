#!/usr/bin/env bash
# Issue 21's cold-item table: every row of the sequence leaderboard under the cold-item
# protocol, into results/ (recorded cells are skipped; an interrupted training resumes).
# amazon-scientific: 20% of the items cold by a hash of the item id (UniSRec's files hold no
# times); ml100k: the 20% of movies first rated last (cold_by=time, the realistic case).
# The Mix impressions built from the same logs get the same cold items (hash) or the same rule
# (time); trained impressions rows there: the bi-encoder and NRMS.
#   RECBENCH_DATA=../shared/data bash benchmarks/cold_items.sh [zero-shot|trained|all]
set -uo pipefail
cd "$(dirname "$0")/.."
which=${1:-all}
run() { python -m recbench.cli run --results-dir ${RESULTS:-results} --no-progress "$@"; }
for d in "amazon-scientific -D cold=0.2" "ml100k -D cold=0.2 -D cold_by=time"; do
  if [[ $which != trained ]]; then
    for m in random popularity sif sbert colbert-minilm; do run -m $m -d $d; done
    run -m recformer -d $d -o zero_shot=true
  fi
  if [[ $which != zero-shot ]]; then
    for m in sasrec gru4rec bert4rec unisrec sasrec-hybrid; do run -m $m -d $d --train-seeds 0,1,2; done
    run -m recformer -d $d --train-seeds 0,1,2
  fi
done
for d in "amazon-scientific-mix -D cold=0.2" "ml100k-mix -D cold=0.2 -D cold_by=time"; do
  if [[ $which != trained ]]; then
    for m in random popularity sif sbert colbert-minilm; do run -m $m -d $d; done
  fi
  if [[ $which != zero-shot ]]; then
    for m in biencoder nrms; do run -m $m -d $d --train-seeds 0,1,2; done
  fi
done
