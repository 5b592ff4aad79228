#!/usr/bin/env bash
# Run HERE (not on the GPU machine): packs what bench/gpu_check.sh needs and the GPU image lacks into .gpu/
# (ignored by git; name it in the device tool's `carry`). The machine there reaches no package index.
#  - .gpu/llama-src.tar.xz: the llama.cpp that llama-cpp-python vendors (its installed version), without
#    models, docs, tests and the web UI — built there with CUDA for that GPU only;
#  - .gpu/llama_cpp_py.tar.xz: the llama_cpp Python package without its CPU libraries (it loads the CUDA
#    build through LLAMA_CPP_LIB_PATH);
#  - .gpu/wheels/: the wheels (cp312) the project needs beyond the image (fastapi, uvicorn, pydantic, ...);
#  - the SmolLM2 GGUF in two halves.
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
version=$($py -c "import importlib.metadata as m; print(m.version('llama-cpp-python'))")
mkdir -p .gpu/wheels .gpu/tmp
sdist=$(ls "${XDG_DATA_HOME:-$HOME/.local/share}"/local-ai-workbench/cache/llama-tools/*"$version"*/sdist/*.tar.gz \
  2>/dev/null | head -1 || true)
if [ -z "$sdist" ]; then
  $py -m pip download -q --no-deps --no-binary :all: "llama-cpp-python==$version" -d .gpu/tmp
  sdist=$(ls .gpu/tmp/llama_cpp_python-*.tar.gz | head -1)
fi
tar xzf "$sdist" -C .gpu/tmp
src=.gpu/tmp/llama_cpp_python-$version/vendor/llama.cpp
tar cJf .gpu/llama-src.tar.xz -C "$src" --exclude=tools/ui --exclude='*.gguf' \
  CMakeLists.txt cmake common ggml include src vendor tools licenses LICENSE
site=$($py -c "import llama_cpp, os; print(os.path.dirname(llama_cpp.__file__))")
tar cJf .gpu/llama_cpp_py.tar.xz -C "$(dirname "$site")" --exclude='llama_cpp/lib' --exclude='__pycache__' llama_cpp
# The GPU image runs Python 3.12 with httpx, anyio, h11, numpy, torch, onnxruntime, scikit-learn, sacrebleu.
$py -m pip download -q --no-deps --only-binary :all: --python-version 3.12 --implementation cp --abi cp312 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any -d .gpu/wheels \
  fastapi starlette uvicorn sse-starlette pydantic pydantic-core annotated-types typing-inspection openai distro \
  jiter rouge-score sqlite-utils sqlite-fts4 click-default-group python-dateutil platformdirs pyqtgraph \
  || echo "note: some wheels could not be fetched (see above)"
# SmolLM2 (98 MB) is more than one call may carry (64 MiB): it goes in two halves, one per call, into two
# folders; a warm machine keeps the first (ignored files stay between calls), gpu_check.sh joins them.
gguf=$($py -c "from app.model_refs import resolve_model_ref; print(resolve_model_ref('smollm2-135m-instruct', 'llm'))")
mkdir -p .gpu/a .gpu/b
mv .gpu/llama-src.tar.xz .gpu/llama_cpp_py.tar.xz .gpu/a/
mv .gpu/wheels .gpu/b/
split -n 2 -d "$gguf" .gpu/tmp/smollm2.part
mv .gpu/tmp/smollm2.part00 .gpu/a/ && mv .gpu/tmp/smollm2.part01 .gpu/b/
sha256sum "$gguf" | cut -d' ' -f1 >.gpu/b/smollm2.sha256
rm -rf .gpu/tmp
du -sh .gpu/a .gpu/b .gpu/*/* | sort -h
echo "carry .gpu/a in a first call (e.g. 'true'), then .gpu/b with: bash bench/gpu_check.sh \$OUT"
