"""`python -m fastbert report`: the evaluation report (Table 2, ablation, Figures 3/4/6/7) of a
model on a data file. The library: `fastbert.tools.report`, whose `ReportConfig` fields are
this command's options."""
from __future__ import annotations

from ..tools.report_config import ReportConfig
from .common import add_command


def run(cfg: ReportConfig) -> int:
    import torch

    from ..tools.report import build_report
    from ..tools.report_figures import check_png_export

    if cfg.png:
        check_png_export()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    print(build_report(cfg))
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "report", run, ReportConfig, help="evaluation report: Table 2, ablation, Figures 3/4/6/7")
