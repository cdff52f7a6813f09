#!/bin/bash
# One prepared GPU session for the presets (issue 14), through Keras 3 on JAX.
#
#   bash scripts/gpu_session.sh prepare   # here: the data and wheels the GPU machine lacks
#   bash scripts/gpu_session.sh run       # there, as the device tool's one command, with
#                                         # carry [".whl", ".devdata"]; $OUT set by the tool
#   DRY_RUN=1 bash scripts/gpu_session.sh run   # print the three training commands only
#                                               # (tests/scripts/test_gpu_session.py)
#
# The lent H200 has Python 3.12, CUDA 13, JAX and PyTorch but neither TensorFlow nor Keras,
# and it sees only the working tree (64 MiB with the carried folders). `prepare` copies the
# training splits of CBSD432 (all but the last 8 images by name, as scripts/train_presets.py
# holds out; the first $N_TRAIN of them, to fit the limit) and of Train400 (gray), with
# their held-out 96x96 crops, into .devdata/, and downloads Keras and the two wheels it needs
# that the machine lacks into .whl/. `run` trains three candidates side by side on the one
# GPU (scripts/train_jax.py): the gray denoiser, the one preset still under its target, from
# its 48-feature state continued and widened to 64 features (with 40-pixel attention windows
# 48 features are about 3x faster than BM3D on the CPU, 64 about 2x), and dn_rgb_small
# widened from 24 to 32;
# each run folder comes back as $OUT/<name>.tar (rewritten at every checkpoint, so a run
# cut short still returns its last one). Unpack into runs/, score on TensorFlow with
# scripts/train_presets.py --ship (held-out crops), and commit what ships.
set -u
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared}
N_TRAIN=${N_TRAIN:-370}
MIN=${MIN:-6.3}

prepare() {
    grep -qx '/.whl/' .git/info/exclude || echo '/.whl/' >> .git/info/exclude
    grep -qx '/.devdata/' .git/info/exclude || echo '/.devdata/' >> .git/info/exclude
    local set
    for set in CBSD432 Train400; do
        python -c "
import sys; sys.path.insert(0, 'scripts')
from pathlib import Path
from train_presets import split_folder
split_folder(Path('$SHARED/data/train/$set'), Path('runs/preset_data'), 8)" || exit 1
        rm -rf ".devdata/$set" && mkdir -p ".devdata/$set/train" ".devdata/$set/val"
        ls "runs/preset_data/$set/train" | sort | head -n "$N_TRAIN" |
            while read -r f; do cp -L "runs/preset_data/$set/train/$f" ".devdata/$set/train/"; done
        cp "runs/preset_data/$set/val/"* ".devdata/$set/val/"
    done
    keras=$(python -c "import keras; print(keras.__version__)")
    python -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .whl "keras==$keras" namex optree || exit 1
    du -sh .devdata .whl
}

run() {
    local dry=${DRY_RUN:-}
    [ -n "$dry" ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site KERAS_BACKEND=jax XLA_PYTHON_CLIENT_MEM_FRACTION=0.28
    export PYTHONUNBUFFERED=1
    if [ -z "$dry" ]; then
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
        python3 -c "import jax, keras; print('jax', jax.__version__, jax.devices(), 'keras', keras.__version__)"
    fi
    local common=(--minutes "$MIN" --batch-size 64 --patch-size 48 --probe-steps 300
                  --halvings 3 --ckpt-minutes 1)
    one() {  # name start-state data-set extra-args...
        local name=$1 state=$2 d=.devdata/$3
        shift 3
        local cmd=(scripts/train_jax.py --init-state "scripts/preset_training/$state"
                   --out "/tmp/runs/$name" --tar "$OUT/$name.tar" --train-dir "$d/train"
                   --val-dir "$d/val" "${common[@]}" "$@")
        if [ -n "$dry" ]; then
            echo "${cmd[@]}"
        else
            python3 "${cmd[@]}" > "$OUT/$name.log" 2>&1 &
        fi
    }
    one dn_gray_f48 dn_gray_small Train400 --lr 5e-5
    one dn_gray_f64 dn_gray_small Train400 --lr 1e-4 --n-feats 64
    one dn_rgb_f32 dn_rgb_small CBSD432 --lr 1e-4 --n-feats 32
    [ -z "$dry" ] || return 0
    sleep 60
    nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader
    wait
    for f in "$OUT"/*.log; do echo "== $f"; grep -v -i warning "$f" | tail -n 8; done
    ls -la "$OUT"
}

case "${1:-}" in
    prepare) prepare ;;
    run) run ;;
    *) echo "usage: $0 prepare|run" >&2; exit 2 ;;
esac
