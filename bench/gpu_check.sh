#!/usr/bin/env bash
# The checks of issue "Proof on real hardware", run on a lent GPU machine (CUDA, many cores, no network).
# Prepare here first: `bash bench/gpu_prepare.sh` (packs .gpu/a and .gpu/b), then on the device:
#   call 1: carry .gpu/a, command `true`      (a warm machine keeps it: ignored files stay between calls)
#   call 2: carry .gpu/b, command `bash bench/gpu_check.sh $OUT`
# Every figure lands in OUT_DIR (machine.txt, pytest.txt, cli.txt, vision_bench.md, pipeline.md,
# bayes_gpu.txt/json, llama_cuda.txt, serve.txt, compare.*). Each step has its own time limit so the whole
# script stays under ten minutes; a step that cannot run says why and the next one goes on.
set -u
out=${1:-/tmp/gpu-check}
mkdir -p "$out"
here=$PWD
export PYTHONUNBUFFERED=1 WORKBENCH_HOME=/tmp/wb-home PYTHONPATH=/tmp/site:$PWD PATH=/tmp/site/bin:$PATH
step() { echo "=== $* ($(date +%T))"; }
have() { command -v "$1" >/dev/null 2>&1; }

# --- set-up: wheels the image lacks, the project, the starter model -----------------------------------
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
  .gpu/b/wheels/*.whl >"$out/install.log" 2>&1 || tail -5 "$out/install.log"
python3 -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site . \
  >>"$out/install.log" 2>&1 || tail -5 "$out/install.log"
gguf=/tmp/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -f .gpu/a/smollm2.part00 ] && [ -f .gpu/b/smollm2.part01 ]; then
  cat .gpu/a/smollm2.part00 .gpu/b/smollm2.part01 >"$gguf"
  [ "$(sha256sum "$gguf" | cut -d' ' -f1)" = "$(cat .gpu/b/smollm2.sha256)" ] || { echo "smollm2: bad join"; rm -f "$gguf"; }
fi

{
  step machine
  nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader
  python3 -c "import torch, onnxruntime as o; print('torch', torch.__version__, 'cuda', torch.version.cuda, \
'| onnxruntime', o.__version__, o.get_available_providers())"
  echo "cores: $(nproc)"; lscpu | grep -E "Model name|Flags" | cut -c1-160
  if have nvcc; then nvcc --version | tail -2; else echo "no nvcc"; fi
  if have cmake; then cmake --version | head -1; else echo "no cmake"; fi
  step workbench devices
  timeout 60 python3 -m app.cli devices
} 2>&1 | tee "$out/machine.txt"

step pytest | tee "$out/pytest.txt"
timeout 150 python3 -m pytest -q -p no:cacheprovider tests/engines/vision/test_vision_gpu.py \
  tests/engines/vision/test_vision_pipeline.py tests/engines/bayes/test_bayes_gpu_choice.py 2>&1 | tee -a "$out/pytest.txt"

{
  step classify on cuda:0, torch fp16
  timeout 45 python3 -m app.cli classify resources/images --device cuda:0 --backend torch --precision fp16 --topk 2
  for precision in fp32 fp16; do
    step bench vision on cuda:0, torch $precision
    timeout 45 python3 -m app.cli bench vision --device cuda:0 --backend torch --backends torch \
      --precision $precision --batch-sizes 1,8,32 -r 10
  done
} 2>&1 | tee "$out/cli.txt"

# Item 1: the folder pipeline at all cores (inference threads x decode threads x priority).
step "bench/vision.py (CPU, all cores)" | tee "$out/vision_bench.md"
timeout 100 python3 bench/vision.py --no-write --iterations 10 2>&1 | tee -a "$out/vision_bench.md"
step "bench/vision_pipeline.py" | tee "$out/pipeline.md"
timeout 100 python3 bench/vision_pipeline.py 2>&1 | tail -30 | tee -a "$out/pipeline.md"

# Item 4: where the GPU starts to pay for the junction tree (sets GPU_MIN_ENTRIES).
step "bench/bayes_gpu.py" | tee "$out/bayes_gpu.txt"
timeout 120 python3 bench/bayes_gpu.py --device cuda:0 --repeat 7 --json "$out/bayes_gpu.json" 2>&1 \
  | tee -a "$out/bayes_gpu.txt"

# Item 2: llama.cpp on CUDA, built here for this GPU only, loaded by llama-cpp-python through LLAMA_CPP_LIB_PATH.
{
  step "llama.cpp with CUDA"
  if have nvcc && have cmake && [ -f .gpu/a/llama-src.tar.xz ]; then
    arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d '.')
    mkdir -p /tmp/llama && tar xJf .gpu/a/llama-src.tar.xz -C /tmp/llama
    tar xJf .gpu/a/llama_cpp_py.tar.xz -C /tmp/site
    generator=""; have ninja && generator="-G Ninja"
    # shellcheck disable=SC2086
    cmake -S /tmp/llama -B /tmp/llama/build $generator -DGGML_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" \
      -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON \
      -DBUILD_SHARED_LIBS=ON -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
      -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DCMAKE_BUILD_TYPE=Release >/tmp/llama/configure.log 2>&1 \
      || tail -20 /tmp/llama/configure.log
    start=$(date +%s)
    timeout 330 cmake --build /tmp/llama/build -j "$(nproc)" --target llama llama-bench llama-server \
      >/tmp/llama/build.log 2>&1 || tail -20 /tmp/llama/build.log
    echo "build: $(( $(date +%s) - start )) s for sm_$arch"
    export LLAMA_CPP_LIB_PATH=/tmp/llama/build/bin
    if [ -f "$gguf" ] && [ -f /tmp/llama/build/bin/libllama.so ]; then
      for device in cuda:0 cpu; do
        step "workbench bench llm on $device"
        timeout 60 python3 -m app.cli bench llm -m "$gguf" --device "$device" -p 512 -n 128 -r 3
      done
      step "llama-bench, all layers on the GPU"
      timeout 60 /tmp/llama/build/bin/llama-bench -m "$gguf" -ngl 99 -p 512 -n 128 -r 3
      step "compare llm cpu vs cuda:0"
      timeout 90 python3 -m app.cli compare --workload llm --model "$gguf" --devices cpu,cuda:0 --repeat 3 \
        --md "$out/compare_llm.md" 2>&1 | tail -20
    else
      echo "no model or no CUDA build: skipped the measurements"
    fi
  else
    echo "skipped: needs nvcc, cmake and .gpu/a/llama-src.tar.xz (bench/gpu_prepare.sh)"
  fi
} 2>&1 | tee "$out/llama_cuda.txt"

# Item 3: continuous batching on the GPU, ours vs llama-server at concurrency 1-32.
{
  step "bench/serve.py on cuda:0"
  if [ -n "${LLAMA_CPP_LIB_PATH:-}" ] && [ -f "$gguf" ]; then
    timeout 150 python3 bench/serve.py --model "$gguf" --device cuda:0 --concurrency 1,2,4,8,16,32 \
      --llama-server /tmp/llama/build/bin/llama-server --json "$out/serve.json" 2>&1 | tail -30
  else
    echo "skipped: no CUDA build of llama.cpp"
  fi
} 2>&1 | tee "$out/serve.txt"

step compare | tee "$out/compare.txt"
timeout 90 python3 -m app.cli compare --workload vision,bayes --devices cpu,cuda:0 --repeat 5 \
  --md "$out/compare.md" --json "$out/compare.json" 2>&1 | tail -40 | tee -a "$out/compare.txt"
cd "$here" && step done
