"""A model's evaluation on the MNIST test set (src.reading.evaluation) as the page shows it.

heatmap_html(result, title)   # the confusion matrix as a table whose cells are shaded by their counts
CSS                           # its style, added to the page's
"""

from src.reading.evaluation import Evaluation


def heatmap_html(result: Evaluation, title: str = "") -> str:
    """The confusion matrix as an HTML table: counts in every cell, shaded by their share of the row (the
    diagonal in blue, mistakes in orange), with each digit's accuracy in the last column."""
    rows, per_class = [], result.per_class
    for t in range(10):
        row_total = max(1, result.confusion[t].sum())
        cells = []
        for a in range(10):
            n = int(result.confusion[t, a])
            share = n / row_total
            if t == a:
                style = f"background: rgba(59, 130, 246, {0.15 + 0.85 * share:.2f}); color: white; font-weight: 600"
            elif n:
                style = f"background: rgba(249, 115, 22, {min(1.0, 0.12 + 8 * share):.2f})"
            else:
                style = "color: var(--body-text-color-subdued)"
            cells.append(f'<td style="{style}">{n}</td>')
        rows.append(f"<tr><th>{t}</th>{''.join(cells)}<td class='acc'>{per_class[t]:.1f}%</td></tr>")
    head = "".join(f"<th>{a}</th>" for a in range(10))
    return (
        f'<div class="confusion"><p>{title} <b>{result.accuracy:.2f}%</b> of {result.total:,} MNIST test '
        f"images read correctly. Rows: the true digit; columns: the model's answer.</p>"
        f"<table><tr><th>true ↓</th>{head}<th>accuracy</th></tr>{''.join(rows)}</table></div>"
    )


CSS = """
.confusion { overflow-x: auto; }
.confusion table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 4px 0; }
@media (max-width: 640px) { .confusion th, .confusion td { padding: 2px 3px !important; font-size: 0.8em; } }
.confusion th, .confusion td { padding: 3px 7px; text-align: right; border: 1px solid var(--border-color-primary); }
.confusion td.acc { font-weight: 600; }
"""
