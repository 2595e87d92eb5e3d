"""The PNG chart: p50 and p99 of the cart mix against concurrent shoppers, one line per backend and peer."""
from __future__ import annotations

from pathlib import Path

from bench.results import BACKENDS, LABELS, Report

STYLE = {"memory": ("tab:blue", "o"), "file": ("tab:orange", "s"), "peer": ("tab:red", "^"),
         "ceiling": ("tab:gray", "D")}


def draw(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    shoppers = sorted({s for _, s in report.cart})
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharex=True)
    for axis, attr, title in zip(axes, ("p50_ms", "p99_ms"), ("p50", "p99")):
        for backend in BACKENDS:
            points = sorted((s, getattr(r, attr)) for (b, s), r in report.cart.items() if b == backend)
            if points:
                colour, marker = STYLE[backend]
                axis.plot([p[0] for p in points], [p[1] for p in points], marker=marker, color=colour,
                          label=LABELS[backend], linestyle="--" if backend in ("peer", "ceiling") else "-")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        if shoppers:
            axis.xaxis.set_major_locator(FixedLocator(shoppers))
            axis.xaxis.set_minor_locator(NullLocator())
            axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.grid(True, which="both", alpha=0.3)
        axis.set_title(f"{title} latency")
        axis.set_xlabel("concurrent shoppers")
        axis.set_ylabel("ms (log scale)")
    axes[0].legend(fontsize="small")
    machine = report.machine
    fig.suptitle(f"Cart mix (POST /cart/add + GET /cart), {report.seconds} s per point; "
                 f"{machine.get('CPU', '?')}, {machine.get('cores', '?')} cores, {machine.get('date', '')}",
                 fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
