"""``python -m streamguard.dashboards [--out DIR] [--check]``: write or verify the JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from streamguard.dashboards.catalogue import DASHBOARDS
from streamguard.dashboards.render import dashboard_json
from streamguard.dashboards.walkthrough import markdown


def expected_files(grafana_dir: Path) -> dict[Path, str]:
    """Every generated file under ``grafana_dir`` with the content it must have."""
    files = {
        grafana_dir / "dashboards" / f"{board.uid}.json": dashboard_json(board)
        for board in DASHBOARDS
    }
    files[grafana_dir / "README.md"] = markdown(DASHBOARDS)
    return files


def main(argv: list[str] | None = None) -> int:
    """Write the generated files (or, with ``--check``, report the stale ones)."""
    parser = argparse.ArgumentParser(prog="python -m streamguard.dashboards")
    parser.add_argument("--out", type=Path, default=Path("grafana"), help="default: grafana")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if any file is stale"
    )
    args = parser.parse_args(argv)
    stale = []
    for path, content in expected_files(args.out).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path)
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(content, encoding="utf-8")
    verb = "stale" if args.check else "written"
    for path in stale:
        print(f"{verb}: {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
