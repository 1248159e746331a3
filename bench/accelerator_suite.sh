#!/usr/bin/env bash
# The accelerator checks of issues 16-18 and of the kernels, in one pass on one GPU/TPU host:
# train-step time and MFU of the local heads, the 3D/4D stages and Astra-Global SFT (small and
# the 3B shapes; its compile time scanned against unrolled; the small models at batch 128;
# flash attention), the accelerator-marked tests, and the BEV splat kernels against XLA.
#
# Usage: bench/accelerator_suite.sh OUTDIR   (run from the repository root, with astra_jax
# installed in $PYTHON, default python3). Each step has its own time limit (a step that runs out
# is reported and the next one starts) and writes OUTDIR/<step>.log; the end of each log is
# echoed; ONLY="step step" runs those steps alone. The exit status is the number of steps that
# failed or ran out of time. The limits add up to ~15 minutes: on a lease of 10-minute calls,
# run it as two calls, e.g. ONLY="mfu-local mfu-encoder mfu-global mfu-3b scan-compile" then
# the rest.
set -u
out=${1:?usage: bench/accelerator_suite.sh OUTDIR}
py=${PYTHON:-python3}
mkdir -p "$out"
# No step renders: MuJoCo without a GL context (EGL libraries are not on every GPU image).
export PYTHONUNBUFFERED=1 MUJOCO_GL=${MUJOCO_GL:-disable}

STEPS="mfu-local mfu-encoder mfu-global mfu-3b scan-compile mfu-batch mfu-flash kernel-tests bev-splat"
for name in ${ONLY:-}; do
  if [[ " $STEPS " != *" $name "* ]]; then
    echo "ONLY: unknown step '$name' (steps, space-separated: $STEPS)" >&2
    exit 2
  fi
done
failed=()

step() {
  local name=$1 limit=$2
  shift 2
  if [[ -n "${ONLY:-}" && " $ONLY " != *" $name "* ]]; then return; fi
  echo "== $name (limit ${limit} s): $*"
  local t0=$SECONDS rc
  timeout -k 10 "$limit" "$@" >"$out/$name.log" 2>&1
  rc=$?
  if ((rc == 124 || rc == 137)); then
    echo "== $name: TIMED OUT after $((SECONDS - t0)) s (limit ${limit} s)"
  else
    echo "== $name: exit $rc after $((SECONDS - t0)) s"
  fi
  ((rc == 0)) || failed+=("$name")
  grep -v '^{' "$out/$name.log" | tail -n 14
}

"$py" -c "import jax, flax; print('jax', jax.__version__, 'flax', flax.__version__, jax.devices())"
nvidia-smi --query-gpu=name,memory.total,clocks.sm,clocks.max.sm --format=csv 2>/dev/null
step mfu-local 100 "$py" bench/train_mfu.py --experiment local-small --repeats 20 --json
step mfu-encoder 110 "$py" bench/train_mfu.py --no-baseline --experiment encoder-3d-small \
  --experiment forecast-small --json
step mfu-global 80 "$py" bench/train_mfu.py --no-baseline --experiment global-sft-small --json
step mfu-3b 110 env XLA_PYTHON_CLIENT_MEM_FRACTION=0.92 "$py" bench/train_mfu.py --no-baseline \
  --batch-size 1 --repeats 5 --experiment global-sft-3b --json
# compile time with the 3B's layers scanned against unrolled, at 8 layers (36 + 32 unrolled
# does not compile within a lease)
step scan-compile 120 "$py" bench/scan_compile.py --experiment global-sft-3b --batch-size 1 \
  --layers 8 --json
# how the small models' MFU scales with the batch (session 21 measured their CPU-sized batches
# only), and global-sft-small with cuDNN flash attention instead of XLA's plain attention
step mfu-batch 150 "$py" bench/train_mfu.py --no-baseline --batch-size 128 --repeats 5 \
  --experiment local-small --experiment encoder-3d-small --json
step mfu-flash 90 "$py" bench/train_mfu.py --no-baseline --attention-impl cudnn \
  --experiment global-sft-small --json
step kernel-tests 70 "$py" -m pytest -q -p no:cacheprovider -m accelerator \
  tests/kernels/test_bev_splat.py tests/local_model/test_local_encoder.py
step bev-splat 60 "$py" bench/bev_splat.py --heap this --repeats 20 --json
if ((${#failed[@]})); then
  echo "failed or timed out: ${failed[*]}"
fi
exit "${#failed[@]}"
