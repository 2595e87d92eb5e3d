"""The PNG chart: the page mix's p50 and p99 against concurrent shoppers (one line per row), and
both mixes' requests per second at 16 shoppers side by side."""
from __future__ import annotations

from pathlib import Path

from bench.report import LABELS, MIXES, ROWS, SHOP_ROWS, TARGET_SHOPPERS, Report

COLOURS = {"memory": "tab:blue", "file": "tab:orange", "redis": "tab:green", "express-file": "tab:red",
           "express-redis": "tab:purple", "flask-file": "tab:brown", "flask-redis": "tab:pink",
           "ceiling": "tab:gray"}
MARKERS = {"memory": "o", "file": "s", "redis": "P", "express-file": "^", "express-redis": "v",
           "flask-file": "<", "flask-redis": ">", "ceiling": "D"}


def draw(report: Report, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

    shoppers = sorted({s for m, _, s in report.cart if m == "page"})
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for axis, attr, title in zip(axes[:2], ("p50_ms", "p99_ms"), ("p50", "p99")):
        for row in ROWS:
            points = sorted((s, getattr(r, attr)) for (m, b, s), r in report.cart.items() if m == "page" and b == row)
            if points:
                axis.plot([p[0] for p in points], [p[1] for p in points], marker=MARKERS[row], color=COLOURS[row],
                          label=LABELS[row], linestyle="-" if row in SHOP_ROWS else "--")
        axis.set_xscale("log", base=2)
        axis.set_yscale("log")
        if shoppers:
            axis.xaxis.set_major_locator(FixedLocator(shoppers))
            axis.xaxis.set_minor_locator(NullLocator())
            axis.xaxis.set_major_formatter(ScalarFormatter())
        axis.yaxis.set_major_formatter(ScalarFormatter())
        axis.grid(True, which="both", alpha=0.3)
        axis.set_title(f"page mix: {title} latency")
        axis.set_xlabel("concurrent shoppers")
        axis.set_ylabel("ms (log scale)")
    axes[0].legend(fontsize="small")

    bars = axes[2]
    rows = [row for row in ROWS if any(report.get(mix, row) for mix in MIXES)]
    width = 0.8 / len(MIXES)
    for i, mix in enumerate(MIXES):
        values = [(report.get(mix, row).rps if report.get(mix, row) else 0) for row in rows]
        bars.barh([j + i * width for j in range(len(rows))], values, height=width, label=f"{mix} mix",
                  color="tab:cyan" if mix == "api" else "tab:olive")
    bars.set_yticks([j + width / 2 for j in range(len(rows))])
    bars.set_yticklabels([LABELS[row] for row in rows], fontsize="small")
    bars.invert_yaxis()
    bars.set_xlabel("requests per second")
    bars.set_title(f"both mixes, {TARGET_SHOPPERS} shoppers")
    bars.grid(True, axis="x", alpha=0.3)
    bars.legend(fontsize="small")

    machine = report.machine
    fig.suptitle(f"Cart mixes, {report.seconds} s per point, WORKERS {report.workers}; "
                 f"{machine.get('CPU', '?')}, {machine.get('cores', '?')} cores, {machine.get('date', '')}",
                 fontsize="medium")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
