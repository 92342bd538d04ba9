#!/usr/bin/env bash
# Issue 18's re-run: every trained row of the leaderboard at its model's default step budget,
# with 3 training seeds, into results/ (cells recorded already are skipped; an interrupted
# training resumes from its last saved state). One cell at a time: two at once on 2 cores
# take twice as long each.
#   RECBENCH_DATA=../shared/data bash benchmarks/seed_reruns.sh
set -uo pipefail
cd "$(dirname "$0")/.."
run() { recbench run --results-dir results --no-progress --train-seeds 0,1,2 "$@"; }
run -m nrms -d amazon-scientific-mix
run -m sasrec -d amazon-scientific
run -m recobert -d wine-tdm
run -m biencoder -d amazon-scientific-mix
run -m biencoder -d amazon-scientific-mix -o pooling=mix
run -m biencoder -d amazon-scientific-mix -o lora=8
run -m biencoder -d amazon-scientific-mix -o loss=bce
run -m recformer -d amazon-scientific
run -m biencoder -d amazon-scientific-mix -o pooling=sasrec
