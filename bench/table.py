"""Printing a benchmark's rows as an aligned table."""


def print_table(rows: list[dict]) -> None:
    headers = list(rows[0])
    table = [[f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)))
