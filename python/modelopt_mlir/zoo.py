"""A small model zoo for capture tests, benchmarks and ``modelopt-import``.

Every model is built from code with seeded random weights (no downloads, no torchvision). An entry
builds ``(model, example_inputs, targets, loss_fn, int_ranges)`` for a batch size and a sequence
length; for the vision models ``seq`` is the image side in pixels. Defaults are small so that each
training step captures in a few seconds; ``size="small"`` gives GPT-2 small (124M parameters).

    from modelopt_mlir.zoo import ZOO
    built = ZOO["cnn"].build(batch=4)
    step = capture_training_step(built.model, built.example_inputs, built.targets,
                                 built.loss_fn, torch.optim.SGD(built.model.parameters(), 0.1),
                                 int_ranges=built.int_ranges)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

SEED = 0
NUM_CLASSES = 10


@dataclass
class ZooModel:
    """A built zoo model with its example batch, ready for ``capture_training_step``."""

    name: str
    description: str
    model: nn.Module
    example_inputs: list[torch.Tensor]
    targets: torch.Tensor
    loss_fn: Callable[..., torch.Tensor]
    int_ranges: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def parameter_count(self) -> int:
        return sum(p.numel() for p in self.model.parameters())

    def plan(self, optimizer: Any, **options: Any) -> Any:
        """:func:`modelopt_mlir.api.plan` of one training step of this model with its example
        batch, loss and integer ranges; ``options`` go to ``plan`` (solver, time_limit, ...)."""
        from modelopt_mlir.api import plan

        return plan(
            self.model,
            self.example_inputs,
            self.targets,
            self.loss_fn,
            optimizer,
            int_ranges=self.int_ranges,
            **options,
        )


@dataclass(frozen=True)
class ZooEntry:
    name: str
    summary: str
    builder: Callable[[int, int, str], ZooModel]
    batch: int
    seq: int
    sizes: tuple[str, ...] = ("tiny",)
    # Per-size default (batch, seq) where a size other than tiny needs different defaults.
    size_defaults: dict[str, tuple[int, int]] = field(default_factory=dict)

    def build(
        self, batch: int | None = None, seq: int | None = None, size: str = "tiny"
    ) -> ZooModel:
        if size not in self.sizes:
            raise ValueError(f"model '{self.name}' has sizes {', '.join(self.sizes)}, not '{size}'")
        default_batch, default_seq = self.size_defaults.get(size, (self.batch, self.seq))
        batch = default_batch if batch is None else batch
        seq = default_seq if seq is None else seq
        if batch < 1 or seq < 1:
            raise ValueError("batch and seq must be positive")
        torch.manual_seed(SEED)
        return self.builder(batch, seq, size)


def classification_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits, labels)


def next_token_loss(output: Any, ids: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of position t's logits against token t + 1 (a transformers ModelOutput or a
    plain logits tensor)."""
    logits = output if isinstance(output, torch.Tensor) else output.logits
    logits = logits[:, :-1, :]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def sequence_classification_loss(output: Any, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(output.logits, labels)


def _labels(batch: int) -> tuple[torch.Tensor, dict[str, tuple[int, int]]]:
    return torch.randint(0, NUM_CLASSES, (batch,)), {"target": (0, NUM_CLASSES)}


# ----------------------------------------------------------------------------------------------
# mlp


def build_mlp(batch: int, seq: int, size: str) -> ZooModel:
    model = nn.Sequential(
        nn.Linear(seq, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, NUM_CLASSES)
    )
    labels, ranges = _labels(batch)
    return ZooModel(
        "mlp",
        f"MLP {seq}-64-64-{NUM_CLASSES} (ReLU), batch {batch}",
        model,
        [torch.randn(batch, seq)],
        labels,
        classification_loss,
        ranges,
    )


# ----------------------------------------------------------------------------------------------
# cnn: ResNet-style


class BasicBlock(nn.Module):
    """ResNet basic block: two 3x3 conv + batch norm, identity or 1x1-conv shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNetSmall(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (16, 32), num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, widths[0], 3, 1, 1, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        blocks: list[nn.Module] = []
        channels = widths[0]
        for i, width in enumerate(widths):
            blocks.append(BasicBlock(channels, width, stride=1 if i == 0 else 2))
            channels = width
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.fc(torch.flatten(self.pool(x), 1))


def build_cnn(batch: int, seq: int, size: str) -> ZooModel:
    model = ResNetSmall()
    labels, ranges = _labels(batch)
    return ZooModel(
        "cnn",
        f"ResNet-style CNN (conv/BatchNorm2d/ReLU, max-pool stem, 2 basic blocks 16-32, "
        f"average pool, linear), batch {batch}, {seq}x{seq} RGB",
        model,
        [torch.randn(batch, 3, seq, seq)],
        labels,
        classification_loss,
        ranges,
    )


# ----------------------------------------------------------------------------------------------
# mobilenet: MobileNetV2-style


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise (grouped) conv, 1x1 project, each normalised
    with GroupNorm; residual when shapes allow."""

    def __init__(
        self, in_channels: int, out_channels: int, stride: int, expand: int, groups_norm: int = 4
    ) -> None:
        super().__init__()
        hidden = in_channels * expand
        self.use_residual = stride == 1 and in_channels == out_channels
        self.body = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False),
            nn.GroupNorm(groups_norm, hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False),
            nn.GroupNorm(groups_norm, hidden),
            nn.ReLU6(),
            nn.Conv2d(hidden, out_channels, 1, bias=False),
            nn.GroupNorm(groups_norm, out_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_residual else out


class MobileNetSmall(nn.Module):
    def __init__(self, num_classes: int = NUM_CLASSES) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, 2, 1, bias=False), nn.GroupNorm(4, 16), nn.ReLU6()
        )
        self.blocks = nn.Sequential(InvertedResidual(16, 16, 1, 4), InvertedResidual(16, 24, 2, 4))
        self.head = nn.Linear(24, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x))
        return self.head(x.mean(dim=(2, 3)))


def build_mobilenet(batch: int, seq: int, size: str) -> ZooModel:
    model = MobileNetSmall()
    labels, ranges = _labels(batch)
    return ZooModel(
        "mobilenet",
        "MobileNetV2-style (stem conv, 2 inverted residual blocks with depthwise 3x3 "
        f"convs, stride 1 and 2, GroupNorm, ReLU6, linear), batch {batch}, {seq}x{seq} RGB",
        model,
        [torch.randn(batch, 3, seq, seq)],
        labels,
        classification_loss,
        ranges,
    )


# ----------------------------------------------------------------------------------------------
# gpt2 / bert (transformers)


def build_gpt2(batch: int, seq: int, size: str) -> ZooModel:
    from transformers import GPT2Config, GPT2LMHeadModel

    if size == "small":
        dims = {
            "n_layer": 12,
            "n_embd": 768,
            "n_head": 12,
            "n_positions": 1024,
            "vocab_size": 50257,
        }
    else:
        dims = {
            "n_layer": 2,
            "n_embd": 64,
            "n_head": 2,
            "n_positions": max(64, seq),
            "vocab_size": 128,
        }
    if seq > dims["n_positions"]:
        raise ValueError(f"seq {seq} exceeds GPT-2's {dims['n_positions']} positions")
    config = GPT2Config(
        **dims,
        attn_pdrop=0.0,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        use_cache=False,
        bos_token_id=0,
        eos_token_id=0,
    )
    # sdpa's backward (_scaled_dot_product_flash_attention_for_cpu_backward) does not lower.
    config._attn_implementation = "eager"
    model = GPT2LMHeadModel(config)
    vocab = dims["vocab_size"]
    ids = torch.randint(0, vocab, (batch, seq))
    return ZooModel(
        "gpt2",
        f"GPT-2 {size} (transformers GPT2LMHeadModel: {dims['n_layer']} layers, n_embd "
        f"{dims['n_embd']}, {dims['n_head']} heads, vocab {vocab}, eager attention), batch "
        f"{batch}, seq {seq}, next-token cross-entropy",
        model,
        [ids],
        ids.clone(),
        next_token_loss,
        {"input0": (0, vocab), "target": (0, vocab)},
    )


def build_bert(batch: int, seq: int, size: str) -> ZooModel:
    from transformers import BertConfig, BertForSequenceClassification

    vocab = 128
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=128,
        max_position_embeddings=max(64, seq),
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        num_labels=2,
    )
    config._attn_implementation = "eager"
    model = BertForSequenceClassification(config)
    ids = torch.randint(0, vocab, (batch, seq))
    labels = torch.randint(0, 2, (batch,))
    return ZooModel(
        "bert",
        f"BERT tiny (transformers BertForSequenceClassification: 2 layers, hidden 64, 2 "
        f"heads, vocab {vocab}, eager attention), batch {batch}, seq {seq}, 2-class "
        "cross-entropy",
        model,
        [ids],
        labels,
        sequence_classification_loss,
        {"input0": (0, vocab), "target": (0, 2)},
    )


# ----------------------------------------------------------------------------------------------
# vit


class SelfAttention(nn.Module):
    """Multi-head self-attention written out (sdpa's backward does not lower)."""

    def __init__(self, dim: int, heads: int, causal: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.causal = causal

    def forward(
        self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (
            self.qkv(x)
            .reshape(b, t, 3, self.heads, d // self.heads)
            .permute(2, 0, 3, 1, 4)
            .unbind(0)
        )
        if rotary is not None:
            q, k = apply_rotary(q, *rotary), apply_rotary(k, *rotary)
        scores = q @ k.transpose(-2, -1) / math.sqrt(d // self.heads)
        if self.causal:
            mask = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        out = scores.softmax(-1) @ v
        return self.proj(out.transpose(1, 2).reshape(b, t, d))


class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = SelfAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(
            nn.Linear(dim, dim * mlp_ratio), nn.GELU(), nn.Linear(dim * mlp_ratio, dim)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViTSmall(nn.Module):
    def __init__(
        self,
        image: int,
        patch: int = 4,
        dim: int = 64,
        depth: int = 2,
        heads: int = 2,
        num_classes: int = NUM_CLASSES,
    ) -> None:
        super().__init__()
        if image % patch:
            raise ValueError(f"image side {image} is not a multiple of the patch size {patch}")
        self.patch_embed = nn.Conv2d(3, dim, patch, patch)
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos_embed = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1) + self.pos_embed
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


def build_vit(batch: int, seq: int, size: str) -> ZooModel:
    model = ViTSmall(seq)
    labels, ranges = _labels(batch)
    return ZooModel(
        "vit",
        "ViT-style (4x4 patch-embedding conv, class token, 2 pre-LayerNorm blocks of "
        f"2-head attention + GELU MLP, dim 64, linear head), batch {batch}, {seq}x{seq} RGB",
        model,
        [torch.randn(batch, 3, seq, seq)],
        labels,
        classification_loss,
        ranges,
    )


# ----------------------------------------------------------------------------------------------
# llama


class RMSNorm(nn.Module):
    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    first, second = x.chunk(2, dim=-1)
    return torch.cat([-second, first], dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + rotate_half(x) * sin


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.gate = nn.Linear(dim, hidden, bias=False)
        self.up = nn.Linear(dim, hidden, bias=False)
        self.down = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class LlamaBlock(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int) -> None:
        super().__init__()
        self.attn_norm = RMSNorm(dim)
        self.attn = SelfAttention(dim, heads, causal=True)
        self.mlp_norm = RMSNorm(dim)
        self.mlp = SwiGLU(dim, hidden)

    def forward(self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        x = x + self.attn(self.attn_norm(x), rotary)
        return x + self.mlp(self.mlp_norm(x))


class LlamaSmall(nn.Module):
    def __init__(
        self,
        vocab: int,
        max_seq: int,
        dim: int = 64,
        depth: int = 2,
        heads: int = 2,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList([LlamaBlock(dim, heads, hidden) for _ in range(depth)])
        self.norm = RMSNorm(dim)
        self.lm_head = nn.Linear(dim, vocab, bias=False)
        head_dim = dim // heads
        inv_freq = 1.0 / (10000 ** (torch.arange(0, head_dim, 2).float() / head_dim))
        angles = torch.outer(torch.arange(max_seq).float(), inv_freq)
        angles = torch.cat([angles, angles], dim=-1)
        self.register_buffer("rope_cos", angles.cos(), persistent=False)
        self.register_buffer("rope_sin", angles.sin(), persistent=False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        t = ids.shape[1]
        rotary = (self.rope_cos[:t], self.rope_sin[:t])
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, rotary)
        return self.lm_head(self.norm(x))


def build_llama(batch: int, seq: int, size: str) -> ZooModel:
    vocab = 128
    model = LlamaSmall(vocab, max_seq=max(64, seq))
    ids = torch.randint(0, vocab, (batch, seq))
    return ZooModel(
        "llama",
        "LLaMA-style (embedding, 2 blocks of RMSNorm + causal 2-head attention with "
        f"rotary embeddings + SwiGLU MLP, dim 64, vocab {vocab}), batch {batch}, seq {seq}, "
        "next-token cross-entropy",
        model,
        [ids],
        ids.clone(),
        next_token_loss,
        {"input0": (0, vocab), "target": (0, vocab)},
    )


ZOO: dict[str, ZooEntry] = {
    "mlp": ZooEntry("mlp", "MLP 32-64-64-10 (seq = input features)", build_mlp, 8, 32),
    "cnn": ZooEntry(
        "cnn", "ResNet-style CNN with BatchNorm2d (seq = image side)", build_cnn, 4, 16
    ),
    "mobilenet": ZooEntry(
        "mobilenet",
        "MobileNetV2-style, depthwise convs, GroupNorm (seq = image side)",
        build_mobilenet,
        4,
        16,
    ),
    "gpt2": ZooEntry(
        "gpt2",
        "GPT-2 (transformers); tiny or small (124M)",
        build_gpt2,
        2,
        16,
        sizes=("tiny", "small"),
        size_defaults={"small": (8, 128)},
    ),
    "bert": ZooEntry(
        "bert", "BERT tiny for sequence classification (transformers)", build_bert, 2, 16
    ),
    "vit": ZooEntry("vit", "ViT-style (seq = image side)", build_vit, 4, 16),
    "llama": ZooEntry(
        "llama", "LLaMA-style: RMSNorm, rotary attention, SwiGLU", build_llama, 2, 16
    ),
}


def bench_optimizer(kind: str, model: nn.Module) -> torch.optim.Optimizer:
    """The optimizers the benches and footprint tests compare with eager: ``adam`` (lr 1e-3)
    or ``sgd`` (lr 0.01, momentum 0.9)."""
    if kind == "adam":
        return torch.optim.Adam(model.parameters(), lr=1e-3)
    if kind == "sgd":
        return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    raise ValueError(f"unknown optimizer kind '{kind}' (expected 'adam' or 'sgd')")
