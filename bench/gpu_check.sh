#!/usr/bin/env bash
# The checks run on a lent GPU machine (CUDA, no network): the vision engine on the GPU (tests, CLI),
# the vision benchmark on that machine's many cores, and a CPU-vs-GPU comparison.
# Usage there: bash bench/gpu_check.sh OUT_DIR   (pure-Python wheels the image lacks in .whl/)
set -u
out=${1:-/tmp/gpu-check}
mkdir -p "$out"
export PYTHONUNBUFFERED=1 WORKBENCH_HOME=/tmp/wb-home PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site . \
  >"$out/install.log" 2>&1 || tail -5 "$out/install.log"
step() { echo "=== $* ($(date +%T))"; }
{
  step machine
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  python3 -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'| onnxruntime', o.__version__, o.get_available_providers())"
  nproc
  step workbench devices
  timeout 60 workbench devices
} 2>&1 | tee "$out/machine.txt"
step pytest | tee "$out/pytest.txt"
timeout 120 python3 -m pytest -q -p no:cacheprovider tests/engines/vision/test_vision_gpu.py \
  tests/engines/vision/test_vision_pipeline.py 2>&1 | tee -a "$out/pytest.txt"
{
  step classify on cuda:0, torch fp16
  timeout 45 workbench classify resources/images --device cuda:0 --backend torch --precision fp16 --topk 2
  step "classify on cuda:0, onnxruntime (its CUDA provider may be absent: a clear error is the check)"
  timeout 30 workbench classify resources/images/coffee.jpg --device cuda:0 --backend onnxruntime
  for precision in fp32 fp16; do
    step bench vision on cuda:0, torch $precision
    timeout 45 workbench bench vision --device cuda:0 --backend torch --backends torch --precision $precision \
      --batch-sizes 1,8,32 -r 10
  done
} 2>&1 | tee "$out/cli.txt"
step "bench/vision.py (CPU, all cores)" | tee "$out/vision_bench.md"
timeout 120 python3 bench/vision.py --no-write --iterations 10 2>&1 | tee -a "$out/vision_bench.md"
step compare | tee "$out/compare.txt"
timeout 120 workbench compare --workload vision,bayes --devices cpu,cuda:0 --repeat 5 \
  --md "$out/compare.md" --json "$out/compare.json" 2>&1 | tail -40 | tee -a "$out/compare.txt"
step done
