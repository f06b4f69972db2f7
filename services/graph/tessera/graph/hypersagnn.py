"""Hyper-SAGNN (Zhang, Zou, Ma, ICLR 2020) in PyTorch, following the reference ``Code/Modules.py``.

Shapes: B sets, L members (padded), d = ``dim``. A candidate set's node features x (B, L, d) go through

- the **static** branch: position-wise feed-forward [d, d, d] (tanh between, dropout, LayerNorm);
- the **dynamic** branch: one multi-head self-attention layer (LayerNorm on q, k, v; no bias; a node
  never attends to itself nor to padding), heads merged by a bias-free linear map, then a
  position-wise feed-forward [d, d, d] with a residual and LayerNorm;

each normalised by its own LayerNorm; node ``i``'s probability is sigmoid(w . (d_i - s_i)^2 + b) and
the set's probability is the mean over its members. The reference's unused static projection of the
attention values (``fc2``) is left out.

Node features come from :class:`AutoencoderFeatures` (tied autoencoder over co-occurrence rows per node
type, tanh + LayerNorm, input dropout 0.25, sparse reconstruction error as an extra loss) or from
:class:`TableFeatures` (fixed embeddings such as random-walk vectors, fine-tuned with the network).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.nn import functional as F

NEG_LARGE = -1e9  # finite stand-in for -inf so masked rows never produce NaN (also in ONNX)


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes of the network (reference defaults: d 64, 8 heads of 16, dropouts 0.3 / 0.4 / 0.25)."""

    dim: int = 64
    heads: int = 8
    head_dim: int = 16
    dropout_attention: float = 0.3
    dropout_ff: float = 0.4
    dropout_features: float = 0.25


class TiedAutoEncoder(nn.Module):
    """Encoder W x + b1 (tanh) and decoder W^T h + b2 sharing W (inp -> out -> inp)."""

    def __init__(self, inp: int, out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out, inp))
        self.bias_encode = nn.Parameter(torch.empty(out))
        self.bias_decode = nn.Parameter(torch.empty(inp))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        nn.init.uniform_(self.bias_encode, -1 / math.sqrt(inp), 1 / math.sqrt(inp))
        nn.init.uniform_(self.bias_decode, -1 / math.sqrt(out), 1 / math.sqrt(out))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        code = torch.tanh(F.linear(x, self.weight, self.bias_encode))
        return code, F.linear(code, self.weight.t(), self.bias_decode)


def sparse_reconstruction_error(recon: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over rows of the squared error on the non-zero entries of ``target``, per non-zero entry."""
    present = (target != 0).float()
    per_row = ((present * (target - recon)) ** 2).sum(-1) / present.sum(-1).clamp(min=1.0)
    return per_row.mean()


class AutoencoderFeatures(nn.Module):
    """Per node type: co-occurrence row -> dropout -> tied autoencoder -> LayerNorm. Padding (id 0) gives zeros."""

    offsets: torch.Tensor

    def __init__(self, rows: list[sp.csr_matrix], dim: int, dropout: float = 0.25):
        super().__init__()
        self.rows = rows
        self.dim = dim
        counts = [r.shape[0] for r in rows]
        self.register_buffer("offsets", torch.tensor(np.concatenate([[0], np.cumsum(counts)]), dtype=torch.long))
        self.encoders = nn.ModuleList(TiedAutoEncoder(r.shape[1], dim) for r in rows)
        self.norms = nn.ModuleList(nn.LayerNorm(dim) for _ in rows)
        self.dropout = nn.Dropout(dropout)
        self.dense_names: list[str] = []

    def densify(self, max_bytes: int = 4 << 30) -> bool:
        """Keep the co-occurrence rows as dense float32 buffers (moved by ``.to(device)``, not saved in the state).

        On a GPU a row gather from a dense table replaces the per-batch scipy densification on the CPU (MovieLens:
        0.57 GB, drug: 0.06 GB). Returns False, changing nothing, when the tables would exceed ``max_bytes``.
        """
        if sum(r.shape[0] * r.shape[1] * 4 for r in self.rows) > max_bytes:
            return False
        self.dense_names = []
        for t, rows in enumerate(self.rows):
            name = f"dense_rows_{t}"
            self.register_buffer(name, torch.from_numpy(rows.toarray()), persistent=False)
            self.dense_names.append(name)
        return True

    def _type_rows(self, t: int, local: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(target rows, rows after feature dropout) of local ids ``local`` of type ``t``, on ``local``'s device."""
        if self.dense_names:
            target = getattr(self, self.dense_names[t]).index_select(0, local)
            return target, self.dropout(target)  # a zero stays zero: the same as dropout on the stored entries
        rows = self.rows[t][local.cpu().numpy()]
        target = torch.from_numpy(rows.toarray()).to(local.device)
        # Dropout on the stored entries only: the same distribution as dropout on the dense row (a zero stays
        # zero), without drawing a mask for every column of a ~15k-wide MovieLens row.
        dropped = rows.copy()
        dropped.data = self.dropout(torch.from_numpy(rows.data)).numpy()
        return target, torch.from_numpy(dropped.toarray()).to(local.device)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """ids (N,) with global id + 1 (0 = padding) -> (features (N, d), reconstruction loss ())."""
        flat = ids.reshape(-1)
        out = torch.zeros(len(flat), self.dim, device=flat.device)
        recon_loss = torch.zeros((), device=flat.device)
        offsets = self.offsets
        for t, (encoder, norm) in enumerate(zip(self.encoders, self.norms, strict=True)):
            select = (flat > offsets[t]) & (flat <= offsets[t + 1])
            if not bool(select.any()):
                continue
            target, dropped = self._type_rows(t, flat[select] - offsets[t] - 1)
            code, recon = encoder(dropped)
            out[select] = norm(code)
            recon_loss = recon_loss + sparse_reconstruction_error(recon, target)
        return out.reshape(*ids.shape, self.dim), recon_loss

    @torch.no_grad()
    def table(self) -> torch.Tensor:
        """(n_nodes + 1, d) features of every node in eval mode (row 0: padding)."""
        was = self.training
        self.eval()
        ids = torch.arange(int(self.offsets[-1]) + 1, device=self.offsets.device)
        # Chunks keep the densified co-occurrence rows small (MovieLens rows have ~15k columns).
        feats = torch.cat([self.forward(chunk)[0] for chunk in ids.split(2048)])
        self.train(was)
        return feats


class TableFeatures(nn.Module):
    """Fixed per-node vectors (n_nodes, d) as a trainable embedding; row 0 is padding."""

    def __init__(self, vectors: np.ndarray, trainable: bool = True):
        super().__init__()
        weight = torch.cat([torch.zeros(1, vectors.shape[1]), torch.as_tensor(vectors, dtype=torch.float32)])
        self.embedding = nn.Embedding.from_pretrained(weight, freeze=not trainable, padding_idx=0)

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.embedding(ids), torch.zeros((), device=ids.device)

    @torch.no_grad()
    def table(self) -> torch.Tensor:
        return self.embedding.weight.detach().clone()


class FeedForward(nn.Module):
    """Position-wise [d_in, d, d] with tanh between, dropout, optional residual, LayerNorm (the reference's PFF)."""

    def __init__(self, d_in: int, dim: int, dropout: float, residual: bool):
        super().__init__()
        self.inner = nn.Linear(d_in, dim)
        self.outer = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.residual = residual and d_in == dim
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.outer(self.dropout(torch.tanh(self.inner(x))))
        return self.norm(out + x if self.residual else out)


class SelfAttention(nn.Module):
    """Multi-head attention of each member over the *other* members of its set (no bias, pre-LayerNorm)."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        d, h, k = config.dim, config.heads, config.head_dim
        self.heads, self.head_dim = h, k
        self.norm_q, self.norm_k, self.norm_v = nn.LayerNorm(d), nn.LayerNorm(d), nn.LayerNorm(d)
        self.w_q, self.w_k, self.w_v = (nn.Linear(d, h * k, bias=False) for _ in range(3))
        for w in (self.w_q, self.w_k, self.w_v):
            nn.init.normal_(w.weight, 0.0, math.sqrt(2.0 / (d + k)))
        self.merge = nn.Linear(h * k, d, bias=False)
        self.dropout = nn.Dropout(config.dropout_attention)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x (B, L, d), mask (B, L) -> dynamic embeddings (B, L, d)."""
        b, n, _ = x.shape
        h, k = self.heads, self.head_dim
        q = self.w_q(self.norm_q(x)).view(b, n, h, k).transpose(1, 2)
        key = self.w_k(self.norm_k(x)).view(b, n, h, k).transpose(1, 2)
        v = self.w_v(self.norm_v(x)).view(b, n, h, k).transpose(1, 2)
        scores = q @ key.transpose(-1, -2) / math.sqrt(k)  # (B, h, L, L)
        # Diagonal from positions (cumsum/equal) rather than eye(L): stays dynamic in the exported graph.
        pos = torch.cumsum(torch.ones_like(mask), dim=1)
        not_self = pos[:, :, None] != pos[:, None, :]
        allowed = not_self & (mask[:, None, :] > 0)
        scores = scores.masked_fill(~allowed[:, None], NEG_LARGE)
        attended = torch.softmax(scores, dim=-1) @ v  # (B, h, L, k)
        return self.dropout(self.merge(attended.transpose(1, 2).reshape(b, n, h * k)))


class SetScorer(nn.Module):
    """The scoring network on node features: x (B, L, d), mask (B, L) -> (set prob (B,), node probs (B, L))."""

    def __init__(self, config: NetworkConfig):
        super().__init__()
        d = config.dim
        self.attention = SelfAttention(config)
        self.dynamic_ff = FeedForward(d, d, config.dropout_ff, residual=True)
        self.static_ff = FeedForward(d, d, config.dropout_ff, residual=False)
        self.norm_dynamic, self.norm_static = nn.LayerNorm(d), nn.LayerNorm(d)
        self.classifier = nn.Linear(d, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        m = mask.unsqueeze(-1)
        dynamic = self.dynamic_ff(self.attention(x, mask) * m) * m
        static = self.static_ff(x * m) * m
        diff = (self.norm_dynamic(dynamic) - self.norm_static(static)) ** 2
        node = torch.sigmoid(self.classifier(diff)).squeeze(-1) * mask
        return node.sum(1) / mask.sum(1).clamp(min=1.0), node


class HyperSAGNN(nn.Module):
    """Node features + :class:`SetScorer`. forward(ids (B, L) with 0 = padding) -> (set prob, node probs, recon)."""

    def __init__(self, features: AutoencoderFeatures | TableFeatures, config: NetworkConfig):
        super().__init__()
        self.config = config
        self.features = features
        self.scorer = SetScorer(config)

    @property
    def device(self) -> torch.device:
        """Where the parameters are (inputs go there)."""
        return next(self.parameters()).device

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mask = (ids != 0).float()
        x, recon = self.features(ids)
        score, node = self.scorer(x, mask)
        return score, node, recon


class TableScorer(nn.Module):
    """Frozen node-feature table + :class:`SetScorer`: the graph that is exported to ONNX.

    forward(ids (B, L) int64, mask (B, L) float32) -> (score (B,), node_scores (B, L)).
    """

    table: torch.Tensor

    def __init__(self, model: HyperSAGNN):
        super().__init__()
        self.register_buffer("table", model.features.table())
        self.scorer = model.scorer

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.scorer(self.table[ids], mask)
