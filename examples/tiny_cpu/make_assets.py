"""Write the local files the tiny CPU examples train on: model weights, tokenizer, dataset.

    python examples/tiny_cpu/make_assets.py [FOLDER]     # default: assets/ beside this script

No download, no GPU, about a second after torch is imported. The files are:

    FOLDER/model/model.safetensors   a randomly initialised 2-layer Llama-3.2-style model
    FOLDER/model/config.json         the HF config FullModelHFCheckpointer (and transformers) reads
    FOLDER/model/tokenizer.json      the same byte-level tokenizer for Hugging Face `transformers`
    FOLDER/model/tokenizer_config.json   (so Inspect AI's hf provider loads model and tokenizer offline)
    FOLDER/tokenizer.model           a byte-level tiktoken BPE file (256 ranks, no merges)
    FOLDER/special_tokens.json       Llama 3's special tokens at ids 256.., in HF tokenizer.json form
    FOLDER/data.json                 32 short alpaca-style {instruction, input, output} records

The model's shape is `DIMS`; the experiment.yaml files of examples/tiny_cpu and
examples/tiny_cpu_full write the same numbers under `model:` (a mismatch fails at
checkpoint load with a size-mismatch error). The small special-token ids keep the
vocabulary at 272 instead of Llama 3's 128,256, so the checkpoint is a few hundred KB.
Everything is seeded: the same command writes the same bytes.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SEED = 0


@dataclass(frozen=True)
class TinyDims:
    """The tiny model's shape: arguments of torchtune's llama3_2 / lora_llama3_2 builders."""

    vocab_size: int = 272  # 256 byte tokens + 13 special tokens, rounded up to a multiple of 16
    num_layers: int = 2
    num_heads: int = 4
    num_kv_heads: int = 2
    embed_dim: int = 64
    intermediate_dim: int = 128
    max_seq_len: int = 512  # byte-level tokens: one alpaca example is 190-270 tokens

    @property
    def head_dim(self) -> int:
        return self.embed_dim // self.num_heads


DIMS = TinyDims()

# Llama 3's special tokens (torchtune.models.llama3._tokenizer) moved right after the 256
# byte tokens; Llama3Tokenizer requires the named ones to exist.
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|begin_of_text|>", "<|end_of_text|>", "<|reserved_special_token_0|>", "<|reserved_special_token_1|>",
    "<|finetune_right_pad_id|>", "<|step_id|>", "<|start_header_id|>", "<|end_header_id|>", "<|eom_id|>",
    "<|eot_id|>", "<|python_tag|>", "<|image|>", "<|video|>",
)


@dataclass(frozen=True)
class Assets:
    """Where `make_assets` wrote each file."""

    folder: Path
    checkpoint_dir: Path
    tokenizer: Path
    special_tokens: Path
    dataset: Path


def write_tokenizer(folder: Path) -> tuple[Path, Path]:
    """A tiktoken BPE file with one rank per byte, and the special tokens as HF ``added_tokens``."""
    tokenizer = folder / "tokenizer.model"
    tokenizer.write_text("".join(f"{base64.b64encode(bytes([b])).decode('ascii')} {b}\n" for b in range(256)),
                         encoding="ascii")
    special = folder / "special_tokens.json"
    added = [{"id": 256 + i, "content": name, "special": True} for i, name in enumerate(SPECIAL_TOKENS)]
    assert 256 + len(added) <= DIMS.vocab_size
    special.write_text(json.dumps({"added_tokens": added}, indent=2) + "\n", encoding="utf-8")
    return tokenizer, special


def hf_config(dims: TinyDims) -> dict[str, object]:
    """The fields of a Llama 3.2 ``config.json`` (the checkpointer reads the head counts and sizes)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "hidden_size": dims.embed_dim,
        "intermediate_size": dims.intermediate_dim,
        "num_attention_heads": dims.num_heads,
        "num_hidden_layers": dims.num_layers,
        "num_key_value_heads": dims.num_kv_heads,
        "head_dim": dims.head_dim,
        "vocab_size": dims.vocab_size,
        "max_position_embeddings": 131072,  # as Llama 3.2 (RoPE scaling needs it above 8192); torchtune reads max_seq_len
        "rms_norm_eps": 1e-5,
        "rope_theta": 500000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "bos_token_id": 256,
        "eos_token_id": 257,
        # torchtune's llama3_2 builder scales RoPE as Llama 3.1 does: the same model in transformers.
        "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                         "original_max_position_embeddings": 8192},
    }


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's printable stand-in character for each byte (what a byte-level BPE vocabulary holds)."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    chars, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return chars


# What the tiny model was trained on (alpaca_dataset's prompt), so Inspect AI's chat messages reach it in that form.
CHAT_TEMPLATE = ("{% for message in messages %}{% if message['role'] == 'user' %}Below is an instruction that "
                 "describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\n"
                 "{{ message['content'] }}\n\n{% endif %}{% endfor %}{% if add_generation_prompt %}### Response:\n"
                 "{% endif %}")


def write_hf_tokenizer(checkpoint_dir: Path) -> Path:
    """The tokenizer of `write_tokenizer` for Hugging Face: byte b is token b, the special tokens 256..

    Built locally with the `tokenizers` library (no download): a byte-level BPE without merges,
    so transformers and torchtune's tiktoken file split every text into the same ids.
    """
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {char: b for b, char in _bytes_to_unicode().items()}
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(name, special=True, normalized=False) for name in SPECIAL_TOKENS])
    assert [tokenizer.token_to_id(name) for name in SPECIAL_TOKENS] == list(range(256, 256 + len(SPECIAL_TOKENS)))
    path = checkpoint_dir / "tokenizer.json"
    tokenizer.save(str(path))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": SPECIAL_TOKENS[0],
              "eos_token": SPECIAL_TOKENS[1], "model_max_length": DIMS.max_seq_len, "chat_template": CHAT_TEMPLATE}
    (checkpoint_dir / "tokenizer_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return path


def write_model(folder: Path, dims: TinyDims = DIMS, *, seed: int = SEED) -> Path:
    """Random weights of torchtune's llama3_2 builder, converted to HF names, as model.safetensors."""
    import torch
    from safetensors.torch import save_file
    from torchtune.models.convert_weights import tune_to_hf
    from torchtune.models.llama3_2 import llama3_2

    torch.manual_seed(seed)
    model = llama3_2(vocab_size=dims.vocab_size, num_layers=dims.num_layers, num_heads=dims.num_heads,
                     num_kv_heads=dims.num_kv_heads, embed_dim=dims.embed_dim, max_seq_len=dims.max_seq_len,
                     intermediate_dim=dims.intermediate_dim)
    # nn.Embedding's default N(0, 1) through the tied output projection gives logits so large
    # that the first loss is about 59; a GPT-style std of 0.02 starts near ln(vocab_size).
    with torch.no_grad():
        model.tok_embeddings.weight.normal_(mean=0.0, std=0.02)
    state = tune_to_hf(model.state_dict(), num_heads=dims.num_heads, num_kv_heads=dims.num_kv_heads,
                       dim=dims.embed_dim, head_dim=dims.head_dim)
    checkpoint_dir = folder / "model"
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sorted(state.items())}, str(checkpoint_dir / "model.safetensors"),
              metadata={"format": "pt"})
    (checkpoint_dir / "config.json").write_text(json.dumps(hf_config(dims), indent=2) + "\n", encoding="utf-8")
    return checkpoint_dir


def dataset_records(count: int = 32) -> list[dict[str, str]]:
    """Short alpaca-style records (arithmetic and word tasks); deterministic."""
    words = ["cat", "river", "stone", "cloud", "apple", "train", "lamp", "forest"]
    records: list[dict[str, str]] = []
    for i in range(count):
        a, b = 3 + 7 * i % 41, 5 + 11 * i % 37
        word = words[i % len(words)]
        match i % 4:
            case 0:
                records.append({"instruction": "Add the two numbers.", "input": f"{a} and {b}", "output": str(a + b)})
            case 1:
                records.append({"instruction": "Spell the word backwards.", "input": word, "output": word[::-1]})
            case 2:
                records.append({"instruction": "Write the word in capital letters.", "input": word,
                                "output": word.upper()})
            case _:
                records.append({"instruction": f"Count to {a % 5 + 2}.", "input": "",
                                "output": " ".join(str(n) for n in range(1, a % 5 + 3))})
    return records


def write_dataset(path: Path, count: int = 32) -> Path:
    path.write_text(json.dumps(dataset_records(count), indent=1) + "\n", encoding="utf-8")
    return path


def make_assets(folder: Path | str) -> Assets:
    """Write every file the tiny examples need into *folder* (created; existing files are replaced)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tokenizer, special = write_tokenizer(folder)
    checkpoint_dir = write_model(folder)
    write_hf_tokenizer(checkpoint_dir)
    return Assets(folder=folder, checkpoint_dir=checkpoint_dir, tokenizer=tokenizer, special_tokens=special,
                  dataset=write_dataset(folder / "data.json"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("folder", nargs="?", type=Path, default=HERE / "assets",
                        help="where to write the files (default: %(default)s)")
    args = parser.parse_args(argv)
    assets = make_assets(args.folder)
    print(f"Wrote the tiny model, tokenizer and dataset into {assets.folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
