"""FastBERT: self-distilling BERT with adaptive inference time (Liu et al., ACL 2020)."""
from .config import FastBertConfig
from .model import FastBert
from .outputs import FastBertOutput, Prediction
from .speedup import speedup
from .uncertainty import decide_exits, get_criterion, normalized_entropy

__all__ = ["FastBert", "FastBertConfig", "FastBertOutput", "Prediction", "speedup",
           "decide_exits", "get_criterion", "normalized_entropy"]
__version__ = "0.1.0"
