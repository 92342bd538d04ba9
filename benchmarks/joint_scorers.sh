#!/usr/bin/env bash
# Issue 22's tables: seed 002's joint architectures beside the bi-encoder on impressions, and
# two-stage pipelines (quality against end-to-end latency, by rerank depth), into results/
# (recorded cells are skipped; an interrupted training resumes from its checkpoint).
#   RECBENCH_DATA=../shared/data bash benchmarks/joint_scorers.sh [SEEDS]   (default 3: seeds 0, 1, 2)
# A cross-encoder scores every (candidate, history) pair at query time (~0.25 s an impression
# on 2 cores), so the amazon-scientific-mix rows are scored on a seeded sample of 500 test
# impressions (--max-queries: the same sample for every row, paired tests hold); the reference
# rows are scored on that sample too. ml100k-mix (943 impressions) is scored whole.
set -uo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-3}  # a count (3: seeds 0, 1, 2) or a list
run() { python -m recbench.cli run --results-dir ${RESULTS:-results} --no-progress "$@"; }
joint=half-cross-encoder,cross-encoder,biencoder-colbert,half-cross-colbert
sample="--max-queries 500 --latency-queries 100"
run -m random,sbert,colbert-minilm -d amazon-scientific-mix $sample
run -m biencoder,nrms,$joint -d amazon-scientific-mix $sample --train-seeds $seeds
run -m half-cross-encoder -d amazon-scientific-mix $sample --train-budget 500steps --train-seeds 1  # the bi-encoder's 8,000 impressions
run -m random,sbert,colbert-minilm -d ml100k-mix --latency-queries 100
run -m biencoder,$joint -d ml100k-mix --latency-queries 100 --train-seeds 1
# pipelines: sbert's top K re-ordered by ColBERT (zero-shot) or by the cross-encoder trained above
ce=$(python - <<'PY'
import glob, json
recs = [json.load(open(p)) for p in glob.glob("results/amazon-scientific-mix__cross-encoder_max_queries_500___*.json")]
seed0 = [r for r in recs if r["cell"]["training"].get("seed") == 0
         and (r.get("training") or {}).get("checkpoint")]
print(seed0[0]["training"]["checkpoint"] if seed0 else "")
PY
)
for d in amazon-scientific wine-similar; do
  run -m sbert -d $d --rerank colbert-minilm --rerank-depth 10,20,50,100,200
  if [[ -n $ce ]]; then
    n=$([[ $d == amazon-scientific ]] && echo 200 || echo 300)
    run -m sbert -d $d --max-queries $n --latency-queries 50
    run -m sbert -d $d --rerank cross-encoder:$ce --rerank-depth 10,20,50 --max-queries $n --latency-queries 50
  fi
done
